"""Settings of the reference Hold: the common flags plus the ``HOLD_*`` / ``S3_*`` env table.

Every value is checked once, here, so a typo in a deployment is a clear startup error rather
than a confusing failure on the first request (docs/atcr.md, "Processes and settings").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lexicons.syntax import is_valid_did

from ...common.faults import Faults
from ...common.service import ServiceSettings
from ..digests import did_web_for

DEFAULT_PORT = 8080
ENV_PREFIX = "HOLD"
KNOWN_FAULTS: tuple[str, ...] = ("no-digest-verify",)

DEFAULT_PART_SIZE = 16 * 1024 * 1024

StorageKind = Literal["filesystem", "s3"]


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint: str | None
    region: str
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HoldConfig:
    public_url: str
    data_dir: Path
    did: str
    owner: str  # the hold DID itself when HOLD_OWNER is empty
    public: bool
    allow_all_crew: bool
    crew: tuple[str, ...]
    plc_url: str
    storage: StorageKind
    part_size: int
    s3: S3Settings | None = None
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> HoldConfig:
        return cls.from_env(
            settings.env,
            public_url=settings.public_url,
            data_dir=settings.data_dir,
            faults=settings.faults,
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        public_url: str,
        data_dir: Path,
        faults: Faults | None = None,
    ) -> HoldConfig:
        public_url = _url(public_url, "HOLD_PUBLIC_URL")
        did = env.get("HOLD_DID", "").strip() or did_web_for(public_url)
        if not is_valid_did(did):
            raise ConfigError(f"HOLD_DID {did!r} is not a DID")
        owner = env.get("HOLD_OWNER", "").strip() or did
        if not is_valid_did(owner):
            raise ConfigError(f"HOLD_OWNER {owner!r} is not a DID")
        crew = tuple(dict.fromkeys(_split(env.get("HOLD_CREW", ""))))
        bad = [d for d in crew if not is_valid_did(d)]
        if bad:
            raise ConfigError(f"HOLD_CREW holds values that are not DIDs: {bad}")
        kind = env.get("HOLD_STORAGE", "filesystem").strip().lower() or "filesystem"
        if kind not in ("filesystem", "s3"):
            raise ConfigError(f"HOLD_STORAGE must be 'filesystem' or 's3', got {kind!r}")
        s3: S3Settings | None = None
        if kind == "s3":
            bucket = env.get("S3_BUCKET", "").strip()
            if not bucket:
                raise ConfigError("HOLD_STORAGE=s3 needs S3_BUCKET")
            endpoint = env.get("S3_ENDPOINT", "").strip() or None
            if endpoint is not None:
                endpoint = _url(endpoint, "S3_ENDPOINT")
            s3 = S3Settings(
                bucket=bucket,
                endpoint=endpoint,
                region=env.get("AWS_REGION", "").strip() or "us-east-1",
                access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
                secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            )
        return cls(
            public_url=public_url,
            data_dir=data_dir,
            did=did,
            owner=owner,
            public=_bool(env, "HOLD_PUBLIC", True),
            allow_all_crew=_bool(env, "HOLD_ALLOW_ALL_CREW", False),
            crew=crew,
            plc_url=_url(env.get("HOLD_PLC_URL", "http://127.0.0.1:2583"), "HOLD_PLC_URL"),
            storage="s3" if kind == "s3" else "filesystem",
            part_size=_positive_int(env, "HOLD_PART_SIZE", DEFAULT_PART_SIZE),
            s3=s3,
            faults=faults if faults is not None else Faults(),
        )


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _url(raw: str, variable: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{variable} must be an http(s) URL, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{variable} must be positive, got {value}")
    return value


def _bool(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = env.get(variable, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable} must be true or false, got {raw!r}")
