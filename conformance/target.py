"""Target profiles: which deployment a run tests, read from TOML plus ``ATCONFORM_*`` overrides.

A profile never holds a secret, only the *names* of env vars that do (``password_env``,
``app_password_env``, ``invite_code_env``, ``confidential_client_key_env``). Every such variable
is resolved when the profile is loaded, so a missing secret stops the run before it starts with
a line naming the variable.

Environment overrides
---------------------
Every field can be set from the environment. The variable name is ``ATCONFORM_`` followed by the
field's path in upper case, path parts joined by ``_``; array-of-table entries are addressed by
their zero-based index::

    ATCONFORM_NAME=staging
    ATCONFORM_ALLOW_LOAD=true                    # true/false, 1/0, yes/no, on/off
    ATCONFORM_IDENTITY_PDS=https://pds.example.com
    ATCONFORM_IDENTITY_PLC=https://plc.directory
    ATCONFORM_STRATOS_URL=...   ATCONFORM_STRATOS_SERVICE_DID=did:web:...
    ATCONFORM_STRATOS_RATE_LIMIT_WRITES=300   ATCONFORM_STRATOS_RATE_LIMIT_WINDOW_S=60
    ATCONFORM_ATCR_REGISTRY=...   ATCONFORM_ATCR_HOLD=...
    ATCONFORM_ACCOUNTS_0_HANDLE=conform-a.example.com
    ATCONFORM_ACCOUNTS_0_PASSWORD_ENV=MY_PASSWORD_VAR
    ATCONFORM_ACCOUNTS_0_BOUNDARIES=engineering,ops   # comma-separated list
    ATCONFORM_PROVISION_ENABLED=true   ATCONFORM_PROVISION_HANDLE_DOMAIN=test
    ATCONFORM_OAUTH_CONFIDENTIAL_CLIENT_METADATA_URL=...
    ATCONFORM_CLOCK_WARN_S=1   ATCONFORM_CLOCK_FAIL_S=10

An index one past the last account adds an account. A variable that starts with a section prefix
(``ATCONFORM_STRATOS_``, ``ATCONFORM_ACCOUNTS_`` ...) but names no field is an error (a typo must
not be ignored silently) unless the profile uses it as a secret's env var name. Other
``ATCONFORM_*`` variables (``ATCONFORM_SECRET_LEDGER``, secret values such as
``ATCONFORM_A_PASSWORD``) are not fields and are left alone.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conformance.errors import ConfigError

ENV_PREFIX = "ATCONFORM_"

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- the schema -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """One field of the TOML schema. ``kind`` is a scalar kind, "table" or "tables"."""

    name: str
    kind: str
    children: tuple[_Field, ...] = ()

    def child(self, name: str) -> _Field | None:
        for c in self.children:
            if c.name == name:
                return c
        return None


_SCHEMA = _Field(
    "",
    "table",
    (
        _Field("name", "str"),
        _Field("allow_load", "bool"),
        _Field("identity", "table", (_Field("pds", "url"), _Field("plc", "url"))),
        _Field(
            "stratos",
            "table",
            (
                _Field("url", "url"),
                _Field("service_did", "did"),
                _Field("appview", "url"),
                _Field("indexing_window_s", "number"),
                _Field("rate_limit", "table", (_Field("writes", "int"), _Field("window_s", "int"))),
            ),
        ),
        _Field(
            "atcr",
            "table",
            (
                _Field("registry", "url"),
                _Field("hold", "url"),
                _Field("namespace", "str"),
                _Field("username", "str"),
                _Field("password_env", "env_name"),
                _Field("hold_stop", "str"),
                _Field("hold_start", "str"),
            ),
        ),
        _Field(
            "accounts",
            "tables",
            (
                _Field("handle", "str"),
                _Field("password_env", "env_name"),
                _Field("boundaries", "str_list"),
                _Field("app_password_env", "env_name"),
                _Field("allowlisted", "bool"),
                _Field("hold_crew", "bool"),
                _Field("atcr_login", "bool"),
            ),
        ),
        _Field(
            "provision",
            "table",
            (
                _Field("enabled", "bool"),
                _Field("handle_domain", "str"),
                _Field("invite_code_env", "env_name"),
                _Field("count", "int"),
            ),
        ),
        _Field(
            "oauth",
            "table",
            (
                _Field("confidential_client_metadata_url", "url"),
                _Field("confidential_client_key_env", "env_name"),
            ),
        ),
        _Field("clock", "table", (_Field("warn_s", "number"), _Field("fail_s", "number"))),
    ),
)

_KIND_WORDS = {
    "str": "a string",
    "url": "an http(s) URL string",
    "did": "a DID string",
    "env_name": "an env var name string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "str_list": "a list of strings",
    "table": "a table",
    "tables": "an array of tables",
}


# --- the profile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    writes: int
    window_s: int


@dataclass(frozen=True)
class IdentityTarget:
    pds: str | None = None
    plc: str | None = None


@dataclass(frozen=True)
class StratosTarget:
    url: str | None = None
    service_did: str | None = None
    # The AppView serving zone.stratos.feed.getTimeline, and how long it may take to index.
    appview: str | None = None
    indexing_window_s: float = 5.0
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class AtcrTarget:
    registry: str | None = None
    hold: str | None = None
    # Repository prefix for the oci profile against a plain registry (docs/atcr.md).
    namespace: str | None = None
    # Basic credentials for a plain registry (the atcr profile uses the accounts instead).
    username: str | None = None
    password_env: str | None = None
    # Shell commands that take the hold down and bring it back (ATCR-HOLD-04, remote targets).
    hold_stop: str | None = None
    hold_start: str | None = None


@dataclass(frozen=True)
class Account:
    """An existing account the run may use; its secrets live in the named env vars."""

    handle: str
    password_env: str
    boundaries: tuple[str, ...] = ()
    app_password_env: str | None = None
    # False for the account the Stratos allowlist must refuse (STR-ENR-02).
    allowlisted: bool = True
    # False for the account that is not crew of the ATCR hold (ATCR-HOLD-03).
    hold_crew: bool = True
    # False for the account the harness never logs in to the ATCR AppView (ATCR-OAUTH-03).
    atcr_login: bool = True


@dataclass(frozen=True)
class Provision:
    """Whether the harness creates its own accounts (``createAccount``) on the target PDS."""

    enabled: bool = False
    handle_domain: str | None = None
    invite_code_env: str | None = None
    count: int = 3


@dataclass(frozen=True)
class OAuthSettings:
    """Where a remote PDS can fetch the harness's confidential-client metadata.

    A remote PDS cannot reach a document the harness serves on loopback, so without a
    published ``confidential_client_metadata_url`` (and the private key behind its JWKS) the
    confidential-client checks are disabled for a remote target. The embedded default hosts
    the document itself.
    """

    confidential_client_metadata_url: str | None = None
    confidential_client_key_env: str | None = None


@dataclass(frozen=True)
class ClockThresholds:
    """CLOCK-01: warn at ``warn_s`` of offset, fail at ``fail_s``."""

    warn_s: float = 1.0
    fail_s: float = 10.0


@dataclass(frozen=True)
class TargetProfile:
    name: str
    identity: IdentityTarget = field(default_factory=IdentityTarget)
    stratos: StratosTarget = field(default_factory=StratosTarget)
    atcr: AtcrTarget = field(default_factory=AtcrTarget)
    accounts: tuple[Account, ...] = ()
    provision: Provision = field(default_factory=Provision)
    allow_load: bool = False
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    clock: ClockThresholds = field(default_factory=ClockThresholds)
    # True for the embedded default: the reference implementation on loopback, started by us.
    embedded: bool = False
    source: str | None = None
    # env var name -> value, resolved at load time; never rendered (repr/redacted_dict skip it).
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def slug(self) -> str:
        """The name made safe for a directory name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-.") or "target"

    @property
    def confidential_client_available(self) -> bool:
        """Whether the confidential-client OAuth checks can run against this target."""
        if self.embedded:
            return True
        return (
            self.oauth.confidential_client_metadata_url is not None
            and self.oauth.confidential_client_key_env is not None
        )

    def secret(self, env_name: str) -> str:
        """The value of a secret env var the profile names (resolved at load time)."""
        try:
            return self.secrets[env_name]
        except KeyError:
            raise ConfigError(f"environment variable {env_name} is not set") from None

    def password(self, account: Account) -> str:
        return self.secret(account.password_env)

    def app_password(self, account: Account) -> str | None:
        return None if account.app_password_env is None else self.secret(account.app_password_env)

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value, so the run's Redactor can register them before anything runs."""
        return tuple(v for v in self.secrets.values() if v)

    def urls_for(self, profile: str) -> tuple[tuple[str, str], ...]:
        """(field path, URL) for every URL a profile's run talks to; ConfigError if one it
        needs is not configured."""
        needed: list[tuple[str, str | None, bool]] = []
        if profile in ("identity", "stratos", "atcr", "all"):
            needed += [
                ("identity.pds", self.identity.pds, True),
                ("identity.plc", self.identity.plc, True),
            ]
        if profile in ("stratos", "all"):
            needed.append(("stratos.url", self.stratos.url, profile == "stratos"))
        if profile in ("atcr", "oci", "all"):
            needed.append(("atcr.registry", self.atcr.registry, profile != "all"))
        if profile in ("atcr", "all"):
            needed.append(("atcr.hold", self.atcr.hold, profile == "atcr"))
        out: list[tuple[str, str]] = []
        for path, url, required in needed:
            if url is None:
                if required:
                    section, key = path.split(".")
                    raise ConfigError(
                        f"profile {profile} needs `{key}` in the [{section}] table of target "
                        f"{self.name!r} (or {ENV_PREFIX}{path.replace('.', '_').upper()})"
                    )
                continue
            out.append((path, url))
        return tuple(out)

    def redacted_dict(self) -> dict[str, Any]:
        """The profile for results.json: every field, env var *names* only, no secret value."""
        return {
            "name": self.name,
            "embedded": self.embedded,
            "source": self.source,
            "allow_load": self.allow_load,
            "identity": {"pds": self.identity.pds, "plc": self.identity.plc},
            "stratos": {
                "url": self.stratos.url,
                "service_did": self.stratos.service_did,
                "appview": self.stratos.appview,
                "indexing_window_s": self.stratos.indexing_window_s,
                "rate_limit": None
                if self.stratos.rate_limit is None
                else {
                    "writes": self.stratos.rate_limit.writes,
                    "window_s": self.stratos.rate_limit.window_s,
                },
            },
            "atcr": {
                "registry": self.atcr.registry,
                "hold": self.atcr.hold,
                "namespace": self.atcr.namespace,
                "username": self.atcr.username,
                "hold_control": self.atcr.hold_stop is not None,
            },
            "accounts": [
                {
                    "handle": a.handle,
                    "password_env": a.password_env,
                    "boundaries": list(a.boundaries),
                    "app_password_env": a.app_password_env,
                    "allowlisted": a.allowlisted,
                }
                for a in self.accounts
            ],
            "provision": {
                "enabled": self.provision.enabled,
                "handle_domain": self.provision.handle_domain,
                "invite_code_env": self.provision.invite_code_env,
                "count": self.provision.count,
            },
            "oauth": {
                "confidential_client_metadata_url": self.oauth.confidential_client_metadata_url,
                "confidential_client_key_env": self.oauth.confidential_client_key_env,
            },
            "clock": {"warn_s": self.clock.warn_s, "fail_s": self.clock.fail_s},
        }


# --- loading ----------------------------------------------------------------------------------


def load_target(path: Path, environ: Mapping[str, str]) -> TargetProfile:
    """Read a target profile file, apply ``ATCONFORM_*`` overrides, resolve secret env vars."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"target file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"target file {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read target file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"target file {path} is not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message already ends with "(at line N, column M)".
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return target_from_dict(raw, environ, source=str(path))


def target_from_dict(
    raw: Mapping[str, Any], environ: Mapping[str, str], source: str | None = None
) -> TargetProfile:
    """Build a profile from already-parsed TOML (tests, programmatic use)."""
    where = source or "target"
    merged = _deep_copy(raw)
    origins: dict[str, str] = {}
    unknown_env = _apply_env_overrides(merged, environ, origins)
    ctx = _Ctx(where, origins)
    profile = _build(merged, ctx)
    secret_names = _secret_env_names(profile)
    for env_name, message in unknown_env:
        if env_name not in secret_names:
            raise ConfigError(message)
    secrets: dict[str, str] = {}
    for path, env_name in _secret_refs(profile):
        value = environ.get(env_name)
        if value is None or value == "":
            raise ConfigError(
                f"environment variable {env_name} is not set (named by {path} in {where})"
            )
        secrets[env_name] = value
    return _replace_secrets(profile, secrets)


def embedded_target(
    pds_url: str,
    *,
    plc_url: str | None = None,
    stratos_url: str | None = None,
    stratos_service_did: str | None = None,
    stratos_appview: str | None = None,
    atcr_registry: str | None = None,
    atcr_hold: str | None = None,
    name: str = "embedded",
    provision_count: int = 3,
    accounts: Sequence[Account] = (),
    secrets: Mapping[str, str] | None = None,
) -> TargetProfile:
    """The profile of the embedded default: reference services on loopback, the PDS serving the
    DID directory, provisioning allowed under the ``test`` handle domain. ``accounts`` the CLI
    provisioned before starting services that must know them (the Stratos allowlist) are given
    with their passwords in ``secrets`` — in memory, never in the environment."""
    return TargetProfile(
        name=name,
        identity=IdentityTarget(pds=pds_url, plc=plc_url or pds_url),
        stratos=StratosTarget(
            url=stratos_url, service_did=stratos_service_did, appview=stratos_appview
        ),
        accounts=tuple(accounts),
        atcr=AtcrTarget(registry=atcr_registry, hold=atcr_hold),
        provision=Provision(enabled=True, handle_domain="test", count=provision_count),
        # Loopback only, and we started it: load runs against it are ours to make.
        allow_load=True,
        embedded=True,
        source=None,
        secrets=MappingProxyType(dict(secrets or {})),
    )


# --- internals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    source: str
    origins: Mapping[str, str]  # field path -> env var that set it

    def fail(self, path: str, message: str) -> ConfigError:
        env = self.origins.get(path)
        if env is not None:
            return ConfigError(f"{env}: {path}: {message}")
        return ConfigError(f"{self.source}: {path}: {message}")


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]
) -> list[tuple[str, str]]:
    """Set fields from ``ATCONFORM_*`` variables; returns (var, message) for unknown ones."""
    sections = [f.name.upper() for f in _SCHEMA.children if f.kind in ("table", "tables")]
    unknown: list[tuple[str, str]] = []
    # Sorted so account indexes are applied in order and results do not depend on env order.
    for var in sorted(environ, key=_natural_key):
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :]
        resolved = _resolve_env_path(rest)
        if resolved is None:
            if any(rest.startswith(s + "_") for s in sections):
                section = next(s for s in sections if rest.startswith(s + "_"))
                spec = _SCHEMA.child(section.lower())
                assert spec is not None
                guess = rest[len(section) + 1 :].lower()
                options = [c.name for c in spec.children]
                if spec.kind == "tables":
                    guess = re.sub(r"^\d+_", "", guess)
                hint = _suggest(guess, options)
                unknown.append((var, f"{var}: no target field {section.lower()}.{guess}{hint}"))
            continue
        parts, spec = resolved
        path = _format_path(parts)
        try:
            value = _coerce_env(environ[var], spec.kind)
        except ValueError:
            raise ConfigError(
                f"{var}: {path}: expected {_KIND_WORDS[spec.kind]}, got {environ[var]!r}"
            ) from None
        _set_path(raw, parts, value, var)
        origins[path] = var
    return unknown


def _natural_key(name: str) -> list[Any]:
    # ACCOUNTS_2 before ACCOUNTS_10, so new accounts are appended in index order.
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _resolve_env_path(rest: str) -> tuple[list[str | int], _Field] | None:
    """Map the part of a variable name after the prefix to a field path, or None."""
    parts: list[str | int] = []
    spec = _SCHEMA
    while True:
        if spec.kind == "tables":
            m = re.match(r"^(\d+)(?:_(.*))?$", rest)
            if m is None or m.group(2) is None:
                return None
            parts.append(int(m.group(1)))
            rest = m.group(2)
            spec = _Field(spec.name, "table", spec.children)
            continue
        matched = False
        # Longest names first so e.g. RATE_LIMIT is not read as RATE + LIMIT.
        for child in sorted(spec.children, key=lambda c: -len(c.name)):
            key = child.name.upper()
            if child.kind in ("table", "tables"):
                if rest.startswith(key + "_"):
                    parts.append(child.name)
                    rest = rest[len(key) + 1 :]
                    spec = child
                    matched = True
                    break
            elif rest == key:
                parts.append(child.name)
                return parts, child
        if not matched:
            return None


def _coerce_env(text: str, kind: str) -> Any:
    if kind == "int":
        return int(text.strip())
    if kind == "number":
        return float(text.strip())
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if kind == "str_list":
        return [p.strip() for p in text.split(",") if p.strip()]
    return text


def _set_path(raw: dict[str, Any], parts: list[str | int], value: Any, var: str) -> None:
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            while len(node) <= part:
                if len(node) < part:
                    raise ConfigError(
                        f"{var}: accounts index {part} skips index {len(node)}; "
                        "indexes must be contiguous"
                    )
                node.append({})
            node = node[part]
            continue
        existing = node.get(part)
        if existing is None:
            existing = [] if isinstance(nxt, int) else {}
            node[part] = existing
        elif not isinstance(existing, list | dict):
            raise ConfigError(f"{var}: {part} is not a table in the target file")
        node = existing
    last = parts[-1]
    assert isinstance(last, str)
    node[last] = value


def _format_path(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _check_keys(table: Mapping[str, Any], spec: _Field, path: str, ctx: _Ctx) -> None:
    known = [c.name for c in spec.children]
    for key in table:
        if key not in known:
            full = f"{path}.{key}" if path else key
            raise ctx.fail(full, f"unknown field{_suggest(key, known)}")


def _scalar(value: Any, kind: str, path: str, ctx: _Ctx) -> Any:
    def wrong() -> ConfigError:
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        return ctx.fail(path, f"expected {_KIND_WORDS[kind]}, got {shown}")

    if kind in ("str", "url", "did", "env_name"):
        if not isinstance(value, str):
            raise wrong()
        if kind == "url":
            return _check_url(value, path, ctx)
        if kind == "did" and not re.match(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$", value):
            raise ctx.fail(path, f"{value!r} is not a DID")
        if kind == "env_name" and not _ENV_NAME_RE.match(value):
            raise ctx.fail(path, f"{value!r} is not a valid env var name")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong()
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong()
        return value
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong()
        return tuple(value)
    raise AssertionError(kind)


def _check_url(value: str, path: str, ctx: _Ctx) -> str:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ctx.fail(path, f"{value!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ctx.fail(path, f"{value!r} is not an http(s) URL")
    if not parts.hostname:
        raise ctx.fail(path, f"{value!r} has no host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would end up in reports; secrets go through env var names.
        raise ctx.fail(path, "URLs must not carry credentials; use an *_env field")
    if parts.query or parts.fragment:
        raise ctx.fail(path, f"{value!r} must not have a query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _table(raw: Mapping[str, Any], name: str, ctx: _Ctx) -> tuple[Mapping[str, Any], _Field]:
    spec = _SCHEMA.child(name)
    assert spec is not None
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ctx.fail(name, f"expected {_KIND_WORDS['table']}, got {value!r}")
    _check_keys(value, spec, name, ctx)
    return value, spec


def _get(table: Mapping[str, Any], spec: _Field, key: str, path: str, ctx: _Ctx) -> Any:
    child = spec.child(key)
    assert child is not None
    if key not in table:
        return None
    return _scalar(table[key], child.kind, f"{path}.{key}" if path else key, ctx)


def _build(raw: Mapping[str, Any], ctx: _Ctx) -> TargetProfile:
    _check_keys(raw, _SCHEMA, "", ctx)
    name = _get(raw, _SCHEMA, "name", "", ctx)
    if not name or not name.strip():
        raise ConfigError(f"{ctx.source}: name is required (a short name for the deployment)")
    allow_load = _get(raw, _SCHEMA, "allow_load", "", ctx) or False

    t, s = _table(raw, "identity", ctx)
    identity = IdentityTarget(
        pds=_get(t, s, "pds", "identity", ctx), plc=_get(t, s, "plc", "identity", ctx)
    )

    t, s = _table(raw, "stratos", ctx)
    rate_limit = None
    if "rate_limit" in t:
        rl = t["rate_limit"]
        rl_spec = s.child("rate_limit")
        assert rl_spec is not None
        if not isinstance(rl, Mapping):
            raise ctx.fail("stratos.rate_limit", f"expected a table, got {rl!r}")
        _check_keys(rl, rl_spec, "stratos.rate_limit", ctx)
        writes = _get(rl, rl_spec, "writes", "stratos.rate_limit", ctx)
        window = _get(rl, rl_spec, "window_s", "stratos.rate_limit", ctx)
        for key, v in (("writes", writes), ("window_s", window)):
            if v is None:
                raise ctx.fail(f"stratos.rate_limit.{key}", "is required in rate_limit")
            if v <= 0:
                raise ctx.fail(f"stratos.rate_limit.{key}", "must be positive")
        rate_limit = RateLimit(writes=writes, window_s=window)
    indexing_window = _get(t, s, "indexing_window_s", "stratos", ctx)
    if indexing_window is not None and indexing_window <= 0:
        raise ctx.fail("stratos.indexing_window_s", "must be positive")
    stratos = StratosTarget(
        url=_get(t, s, "url", "stratos", ctx),
        service_did=_get(t, s, "service_did", "stratos", ctx),
        appview=_get(t, s, "appview", "stratos", ctx),
        indexing_window_s=5.0 if indexing_window is None else float(indexing_window),
        rate_limit=rate_limit,
    )

    t, s = _table(raw, "atcr", ctx)
    atcr = AtcrTarget(
        **{
            key: _get(t, s, key, "atcr", ctx)
            for key in (
                "registry",
                "hold",
                "namespace",
                "username",
                "password_env",
                "hold_stop",
                "hold_start",
            )
        }
    )
    if (atcr.username is None) != (atcr.password_env is None):
        raise ctx.fail("atcr", "username and password_env go together")
    if (atcr.hold_stop is None) != (atcr.hold_start is None):
        raise ctx.fail("atcr", "hold_stop and hold_start go together")

    accounts = _build_accounts(raw, ctx)

    t, s = _table(raw, "provision", ctx)
    provision = Provision(
        enabled=_get(t, s, "enabled", "provision", ctx) or False,
        handle_domain=_get(t, s, "handle_domain", "provision", ctx),
        invite_code_env=_get(t, s, "invite_code_env", "provision", ctx),
        count=3 if "count" not in t else _get(t, s, "count", "provision", ctx),
    )
    if provision.count < 1:
        raise ctx.fail("provision.count", "must be at least 1")
    if provision.enabled and not provision.handle_domain:
        raise ctx.fail("provision.handle_domain", "is required when provisioning is enabled")
    if provision.handle_domain is not None:
        provision = Provision(
            enabled=provision.enabled,
            handle_domain=provision.handle_domain.lstrip("."),
            invite_code_env=provision.invite_code_env,
            count=provision.count,
        )

    t, s = _table(raw, "oauth", ctx)
    oauth = OAuthSettings(
        confidential_client_metadata_url=_get(
            t, s, "confidential_client_metadata_url", "oauth", ctx
        ),
        confidential_client_key_env=_get(t, s, "confidential_client_key_env", "oauth", ctx),
    )
    if (oauth.confidential_client_metadata_url is None) != (
        oauth.confidential_client_key_env is None
    ):
        raise ctx.fail(
            "oauth",
            "confidential_client_metadata_url and confidential_client_key_env go together",
        )

    t, s = _table(raw, "clock", ctx)
    warn = _get(t, s, "warn_s", "clock", ctx)
    fail = _get(t, s, "fail_s", "clock", ctx)
    clock = ClockThresholds(
        warn_s=1.0 if warn is None else warn, fail_s=10.0 if fail is None else fail
    )
    if not 0 < clock.warn_s < clock.fail_s:
        raise ctx.fail("clock", "need 0 < warn_s < fail_s")

    return TargetProfile(
        name=name.strip(),
        identity=identity,
        stratos=stratos,
        atcr=atcr,
        accounts=accounts,
        provision=provision,
        allow_load=allow_load,
        oauth=oauth,
        clock=clock,
        embedded=False,
        source=ctx.source,
    )


def _build_accounts(raw: Mapping[str, Any], ctx: _Ctx) -> tuple[Account, ...]:
    spec = _SCHEMA.child("accounts")
    assert spec is not None
    value = raw.get("accounts", [])
    if not isinstance(value, list):
        raise ctx.fail("accounts", "expected an array of tables ([[accounts]])")
    out: list[Account] = []
    seen: set[str] = set()
    for i, entry in enumerate(value):
        path = f"accounts[{i}]"
        if not isinstance(entry, Mapping):
            raise ctx.fail(path, "expected a table")
        _check_keys(entry, spec, path, ctx)
        handle = _get(entry, spec, "handle", path, ctx)
        password_env = _get(entry, spec, "password_env", path, ctx)
        if handle is None:
            raise ctx.fail(f"{path}.handle", "is required")
        if password_env is None:
            raise ctx.fail(f"{path}.password_env", "is required (the env var holding the password)")
        handle = handle.lstrip("@").lower()
        if "." not in handle or "/" in handle or ":" in handle:
            raise ctx.fail(f"{path}.handle", f"{handle!r} is not a handle")
        if handle in seen:
            raise ctx.fail(f"{path}.handle", f"{handle!r} is listed twice")
        seen.add(handle)
        out.append(
            Account(
                handle=handle,
                password_env=password_env,
                boundaries=_get(entry, spec, "boundaries", path, ctx) or (),
                app_password_env=_get(entry, spec, "app_password_env", path, ctx),
                allowlisted=_get(entry, spec, "allowlisted", path, ctx) is not False,
                hold_crew=_get(entry, spec, "hold_crew", path, ctx) is not False,
                atcr_login=_get(entry, spec, "atcr_login", path, ctx) is not False,
            )
        )
    return tuple(out)


def _secret_refs(profile: TargetProfile) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    for i, a in enumerate(profile.accounts):
        refs.append((f"accounts[{i}].password_env", a.password_env))
        if a.app_password_env:
            refs.append((f"accounts[{i}].app_password_env", a.app_password_env))
    if profile.provision.invite_code_env:
        refs.append(("provision.invite_code_env", profile.provision.invite_code_env))
    if profile.oauth.confidential_client_key_env:
        refs.append(
            ("oauth.confidential_client_key_env", profile.oauth.confidential_client_key_env)
        )
    if profile.atcr.password_env:
        refs.append(("atcr.password_env", profile.atcr.password_env))
    return refs


def _secret_env_names(profile: TargetProfile) -> set[str]:
    return {name for _, name in _secret_refs(profile)}


def _replace_secrets(profile: TargetProfile, secrets: dict[str, str]) -> TargetProfile:
    return replace(profile, secrets=MappingProxyType(dict(secrets)))
