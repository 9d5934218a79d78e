"""Settings of the reference ATCR AppView: the common flags plus the ``ATCR_*`` env table.

Every value is checked here, once, so a typo in a deployment is one clear startup error rather
than a confusing failure on the first push (docs/atcr.md, "Processes and settings").
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lexicons.syntax import is_valid_did

from ...common.env_settings import ConfigError, EnvConfig
from ...common.faults import Faults

DEFAULT_PORT = 5000
ENV_PREFIX = "ATCR"

KNOWN_FAULTS: tuple[str, ...] = (
    "tag-cached-not-from-pds",
    "no-www-authenticate-realm",
    "push-other-namespace",
    "client-metadata-404",
    "no-digest-verify",
    "hold-outage-hangs",
)

LOG_LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_SERVICE_NAME = "atcr.localhost"
DEFAULT_HOLD_DID = "did:web:127.0.0.1%3A8080"
DEFAULT_PDS_URL = "http://127.0.0.1:2583"


@dataclass(frozen=True)
class AtcrConfig(EnvConfig):
    base_url: str
    service_name: str
    default_hold_did: str
    auth_key_path: Path
    log_level: int
    database_path: Path
    pds_url: str
    plc_url: str
    data_dir: Path
    faults: Faults = field(default_factory=Faults)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "uploads"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        public_url: str,
        data_dir: Path,
        faults: Faults | None = None,
    ) -> AtcrConfig:
        # ATCR_BASE_URL is what clients use; without it the address we listen on (or
        # --public-url) is the best guess, and equals the documented default out of the box.
        base_url = _url(env.get("ATCR_BASE_URL") or _reachable(public_url), "ATCR_BASE_URL")
        service_name = env.get("ATCR_SERVICE_NAME", DEFAULT_SERVICE_NAME).strip()
        if not service_name or any(c in service_name for c in ' ",\\'):
            raise ConfigError(
                f"ATCR_SERVICE_NAME must be a non-empty name without spaces, quotes or commas, "
                f"got {service_name!r}"
            )
        hold = env.get("ATCR_DEFAULT_HOLD_DID", DEFAULT_HOLD_DID).strip()
        if not hold.startswith("did:web:") or not is_valid_did(hold):
            raise ConfigError(f"ATCR_DEFAULT_HOLD_DID must be a did:web DID, got {hold!r}")
        level_name = env.get("ATCR_LOG_LEVEL", "info").strip().lower()
        if level_name not in LOG_LEVELS:
            raise ConfigError(
                f"ATCR_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level_name!r}"
            )
        pds_url = _url(env.get("ATCR_PDS_URL", DEFAULT_PDS_URL), "ATCR_PDS_URL")
        plc_url = _url(env.get("ATCR_PLC_URL") or pds_url, "ATCR_PLC_URL")
        key_raw = env.get("ATCR_AUTH_KEY_PATH", "").strip()
        auth_key_path = Path(key_raw) if key_raw else data_dir / "auth-key.pem"
        db_raw = env.get("ATCR_UI_DATABASE_URL", "").strip()
        database_path = (
            sqlite_path(db_raw, "ATCR_UI_DATABASE_URL") if db_raw else data_dir / "appview.sqlite"
        )
        return cls(
            base_url=base_url,
            service_name=service_name,
            default_hold_did=hold,
            auth_key_path=auth_key_path.resolve(),
            log_level=LOG_LEVELS[level_name],
            database_path=database_path.resolve(),
            pds_url=pds_url,
            plc_url=plc_url,
            data_dir=data_dir,
            faults=faults if faults is not None else Faults(),
        )


def _reachable(url: str) -> str:
    """A listen-everywhere address is not one clients can use: name loopback instead."""
    for wildcard in ("://0.0.0.0:", "://[::]:"):
        url = url.replace(wildcard, "://127.0.0.1:")
    return url


def sqlite_path(url: str, variable: str) -> Path:
    """``sqlite:///relative/file`` or ``sqlite:////absolute/file`` (SQLAlchemy's spelling)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"{variable} must look like sqlite:///<path>, got {url!r}")
    return Path(url[len(prefix) :])


def _url(raw: str, variable: str) -> str:
    value = raw.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"{variable} must be an http(s) URL, got {raw!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"{variable} must be an http(s) URL, got {raw!r}")
    return value


def http_addr_argv(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` plus ``--host/--port`` from ``ATCR_HTTP_ADDR`` when neither the flags nor
    ``ATCR_HOST``/``ATCR_PORT`` chose the listen address (those win, as flags win over env)."""
    raw = env.get("ATCR_HTTP_ADDR", "").strip()
    explicit = any(
        arg in ("--host", "--port") or arg.startswith(("--host=", "--port=")) for arg in argv
    )
    if not raw or explicit or env.get("ATCR_HOST") or env.get("ATCR_PORT"):
        return list(argv)
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"ATCR_HTTP_ADDR must be <host>:<port>, got {raw!r}")
    return [*argv, "--host", host or "0.0.0.0", "--port", port]


def load_or_create_auth_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 key signing registry JWTs: read from a PEM file, created (0600) when missing.

    The file is created with O_EXCL, so two processes starting at once cannot both write one.
    """
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        except FileExistsError:
            return load_or_create_auth_key(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key
    except OSError as exc:
        raise ConfigError(
            f"ATCR_AUTH_KEY_PATH {str(path)!r} cannot be read: {exc.strerror}"
        ) from None
    try:
        key_any = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"ATCR_AUTH_KEY_PATH {str(path)!r} is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key_any, ec.EllipticCurvePrivateKey) or not isinstance(
        key_any.curve, ec.SECP256R1
    ):
        raise ConfigError(f"ATCR_AUTH_KEY_PATH {str(path)!r} must hold a P-256 (ES256) key")
    return key_any
