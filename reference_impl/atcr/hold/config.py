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

from ...common.env_settings import (
    ConfigError,
    EnvConfig,
    bool_setting,
    positive_int,
    split_list,
    url_setting,
)
from ...common.faults import Faults
from ..digests import did_web_for

DEFAULT_PORT = 8080
ENV_PREFIX = "HOLD"
KNOWN_FAULTS: tuple[str, ...] = ("no-digest-verify",)

DEFAULT_PART_SIZE = 16 * 1024 * 1024

StorageKind = Literal["filesystem", "s3"]


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint: str | None
    region: str
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HoldConfig(EnvConfig):
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
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        public_url: str,
        data_dir: Path,
        faults: Faults | None = None,
    ) -> HoldConfig:
        public_url = url_setting(public_url, "HOLD_PUBLIC_URL")
        did = env.get("HOLD_DID", "").strip() or did_web_for(public_url)
        if not is_valid_did(did):
            raise ConfigError(f"HOLD_DID {did!r} is not a DID")
        owner = env.get("HOLD_OWNER", "").strip() or did
        if not is_valid_did(owner):
            raise ConfigError(f"HOLD_OWNER {owner!r} is not a DID")
        crew = tuple(dict.fromkeys(split_list(env.get("HOLD_CREW", ""))))
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
                endpoint = url_setting(endpoint, "S3_ENDPOINT")
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
            public=bool_setting(env, "HOLD_PUBLIC", True),
            allow_all_crew=bool_setting(env, "HOLD_ALLOW_ALL_CREW", False),
            crew=crew,
            plc_url=url_setting(env.get("HOLD_PLC_URL", "http://127.0.0.1:2583"), "HOLD_PLC_URL"),
            storage="s3" if kind == "s3" else "filesystem",
            part_size=positive_int(env, "HOLD_PART_SIZE", DEFAULT_PART_SIZE),
            s3=s3,
            faults=faults if faults is not None else Faults(),
        )
