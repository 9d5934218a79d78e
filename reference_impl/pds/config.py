"""Settings of the reference PDS, from flags and ``PDS_*`` env vars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..common.faults import Faults
from ..common.service import ServiceSettings

# No PDS faults exist yet; the mechanism is shared with the other services.
KNOWN_FAULTS: tuple[str, ...] = ()


@dataclass(frozen=True)
class PdsConfig:
    public_url: str
    data_dir: Path
    directory_url: str
    handle_domains: tuple[str, ...]
    invite_code: str | None
    service_did: str
    access_ttl_s: int
    refresh_ttl_s: int
    oauth_access_ttl_s: int
    faults: Faults

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> PdsConfig:
        env = settings.env
        domains = tuple(
            d if d.startswith(".") else f".{d}"
            for d in (x.strip() for x in env.get("PDS_HANDLE_DOMAINS", ".test").split(","))
            if d
        )
        host = settings.public_url.split("://", 1)[1].split("/", 1)[0]
        return cls(
            public_url=settings.public_url,
            data_dir=settings.data_dir,
            # The PLC-compatible directory is served by this same process unless told otherwise.
            directory_url=env.get("PDS_DIRECTORY_URL", settings.public_url).rstrip("/"),
            handle_domains=domains,
            invite_code=env.get("PDS_INVITE_CODE") or None,
            service_did=f"did:web:{quote(host, safe='')}",
            access_ttl_s=int(env.get("PDS_ACCESS_TTL_S", "7200")),
            refresh_ttl_s=int(env.get("PDS_REFRESH_TTL_S", str(90 * 24 * 3600))),
            oauth_access_ttl_s=int(env.get("PDS_OAUTH_ACCESS_TTL_S", "600")),
            faults=settings.faults,
        )
