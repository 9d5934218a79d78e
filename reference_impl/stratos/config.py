"""Settings of the reference Stratos service: the common flags plus the ``STRATOS_*`` env table.

Every value is checked here, once, so a typo in a deployment is a clear startup error rather
than a confusing failure on the first request (docs/stratos.md, "Processes and settings").
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lexicons.syntax import is_valid_did, is_valid_record_key

from ..common.env_settings import (
    ConfigError,
    EnvConfig,
    bool_setting,
    positive_int,
    split_list,
    url_setting,
)
from ..common.faults import Faults

DEFAULT_PORT = 3100
ENV_PREFIX = "STRATOS"

KNOWN_FAULTS: tuple[str, ...] = (
    "boundary-403",
    "sync-getrecord-no-boundary",
    "no-empty-commit",
    "no-ratelimit-headers",
    "cors-no-expose-dpop-nonce",
    "cors-no-expose-www-authenticate",
    "cors-no-allow-dpop",
    "cors-no-allow-authorization",
    # Read by the auth layer the lead wires (reference_impl/common/resource_auth.py).
    "accept-forged-token",
    "dpop-no-replay-check",
)

EnrollmentMode = Literal["allowlist", "open"]

# A bare domain name: what follows "<serviceDid>/" in a qualified domain.
_DOMAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,62}")
_MAX_QUALIFIED = 253  # zone.stratos.boundary.defs#Domain.value maxLength


@dataclass(frozen=True)
class RateLimitSettings:
    max_writes: int
    window_ms: int

    @property
    def window_s(self) -> int:
        """The window in whole seconds, as ``RateLimit-Policy: <n>;w=<s>`` advertises it."""
        return max(1, math.ceil(self.window_ms / 1000))


@dataclass(frozen=True)
class StratosConfig(EnvConfig):
    public_url: str
    data_dir: Path
    service_did: str
    pds_url: str
    plc_url: str
    domains: tuple[str, ...]  # qualified, in configuration order
    enrollment_mode: EnrollmentMode
    allowed_dids: frozenset[str]
    auto_enroll_domains: tuple[str, ...]  # qualified
    rate_limit: RateLimitSettings
    dpop_require_nonce: bool
    # Never logged, never in a repr: the AppView's credential for subscribeRecords.
    sync_token: str = field(repr=False)
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        public_url: str,
        data_dir: Path,
        faults: Faults | None = None,
    ) -> StratosConfig:
        service_did = env.get("STRATOS_SERVICE_DID", "did:web:stratos.localhost").strip()
        if not is_valid_did(service_did) or not is_valid_record_key(service_did):
            # The service DID is also the enrollment record's rkey in users' PDSes.
            raise ConfigError(
                f"STRATOS_SERVICE_DID {service_did!r} must be a DID that is also a valid record "
                "key (no '%': use e.g. did:web:stratos.example)"
            )
        pds_url = url_setting(
            env.get("STRATOS_PDS_URL", "http://127.0.0.1:2583"), "STRATOS_PDS_URL"
        )
        plc_url = url_setting(env.get("STRATOS_PLC_URL") or pds_url, "STRATOS_PLC_URL")

        domains = _qualify_all(
            service_did,
            split_list(env.get("STRATOS_ALLOWED_DOMAINS", "engineering,design")),
            "STRATOS_ALLOWED_DOMAINS",
            allowed=None,
        )
        auto = _qualify_all(
            service_did,
            split_list(env.get("STRATOS_AUTO_ENROLL_DOMAINS", "")),
            "STRATOS_AUTO_ENROLL_DOMAINS",
            allowed=domains,
        )

        mode = env.get("STRATOS_ENROLLMENT_MODE", "allowlist").strip().lower()
        if mode not in ("allowlist", "open"):
            raise ConfigError(
                f"STRATOS_ENROLLMENT_MODE must be 'allowlist' or 'open', got {mode!r}"
            )
        allowed_dids = frozenset(split_list(env.get("STRATOS_ALLOWED_DIDS", "")))
        bad = sorted(d for d in allowed_dids if not is_valid_did(d))
        if bad:
            raise ConfigError(f"STRATOS_ALLOWED_DIDS holds values that are not DIDs: {bad}")

        rate_limit = RateLimitSettings(
            max_writes=positive_int(env, "STRATOS_WRITE_RATE_MAX_WRITES", 300),
            window_ms=positive_int(env, "STRATOS_WRITE_RATE_WINDOW_MS", 60000),
        )
        sync_token = env.get("STRATOS_SYNC_TOKEN") or secrets.token_urlsafe(32)

        return cls(
            public_url=public_url.rstrip("/"),
            data_dir=data_dir,
            service_did=service_did,
            pds_url=pds_url,
            plc_url=plc_url,
            domains=domains,
            enrollment_mode="open" if mode == "open" else "allowlist",
            allowed_dids=allowed_dids,
            auto_enroll_domains=auto,
            rate_limit=rate_limit,
            dpop_require_nonce=bool_setting(env, "STRATOS_DPOP_REQUIRE_NONCE", True),
            sync_token=sync_token,
            faults=faults if faults is not None else Faults(),
        )

    @property
    def domain_prefix(self) -> str:
        """Every domain of this service starts with this: ``<serviceDid>/``."""
        return f"{self.service_did}/"


def qualify_domain(service_did: str, name: str) -> str | None:
    """``engineering`` or ``<serviceDid>/engineering`` -> the qualified form; None if malformed.

    Only checks syntax; whether the service offers the domain is the caller's question.
    """
    prefix = f"{service_did}/"
    bare = name[len(prefix) :] if name.startswith(prefix) else name
    if not _DOMAIN_NAME.fullmatch(bare):
        return None
    qualified = prefix + bare
    return qualified if len(qualified) <= _MAX_QUALIFIED else None


def _qualify_all(
    service_did: str, names: Iterable[str], variable: str, allowed: tuple[str, ...] | None
) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        qualified = qualify_domain(service_did, name)
        if qualified is None:
            raise ConfigError(
                f"{variable}: {name!r} is not a domain name (letters, digits, '.', '_', '~', '-'; "
                f"qualified form at most {_MAX_QUALIFIED} characters)"
            )
        if allowed is not None and qualified not in allowed:
            raise ConfigError(f"{variable}: {name!r} is not one of STRATOS_ALLOWED_DOMAINS")
        if qualified not in out:
            out.append(qualified)
    return tuple(out)
