"""Settings of the reference AppView, from the common flags and ``STRATOS_APPVIEW_*`` env vars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...common.faults import Faults
from ...common.service import ServiceSettings

NAME = "stratos.appview"
ENV_PREFIX = "STRATOS_APPVIEW"
DEFAULT_PORT = 3200
# No AppView faults exist yet; the mechanism is shared with the other services.
KNOWN_FAULTS: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppViewConfig:
    public_url: str
    data_dir: Path
    stratos_url: str
    # Shared secret presented to subscribeRecords; empty means "none configured" and the
    # stream will answer AuthRequired (logged, retried: Stratos may be restarted with it).
    sync_token: str
    # DID directory used by the resource-server authenticator (sub -> DID document).
    plc_url: str
    # Reconnect backoff: the first retry is quick so a Stratos restart costs little indexing
    # latency; the cap keeps a long outage from hammering it.
    reconnect_min_s: float
    reconnect_max_s: float
    # Resource-server DPoP nonces, as Stratos does (STRATOS_DPOP_REQUIRE_NONCE).
    dpop_require_nonce: bool
    faults: Faults

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> AppViewConfig:
        env = settings.env
        return cls(
            public_url=settings.public_url,
            data_dir=settings.data_dir,
            stratos_url=env.get(f"{ENV_PREFIX}_STRATOS_URL", "http://127.0.0.1:3100").rstrip("/"),
            sync_token=env.get(f"{ENV_PREFIX}_SYNC_TOKEN", ""),
            plc_url=env.get(f"{ENV_PREFIX}_PLC_URL", "http://127.0.0.1:2583").rstrip("/"),
            reconnect_min_s=float(env.get(f"{ENV_PREFIX}_RECONNECT_MIN_S", "0.1")),
            reconnect_max_s=float(env.get(f"{ENV_PREFIX}_RECONNECT_MAX_S", "5")),
            dpop_require_nonce=_flag(env.get(f"{ENV_PREFIX}_DPOP_REQUIRE_NONCE", "true")),
            faults=settings.faults,
        )


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{ENV_PREFIX}_DPOP_REQUIRE_NONCE must be true or false, got {raw!r}")
