"""The registry layer's settings (the wiring fills them from ``ATCR_*``, docs/atcr.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

# Faults this layer implements (docs/atcr.md, "Faults"); others belong to the ATProto side.
REGISTRY_FAULTS = frozenset(
    {"no-www-authenticate-realm", "push-other-namespace", "no-digest-verify"}
)


@dataclass(frozen=True)
class RegistrySettings:
    base_url: str  # origin clients use: token realm, ``iss``, absolute ``Location``s
    service_name: str  # ``service`` of the challenge, ``aud`` of registry tokens
    signing_key: ec.EllipticCurvePrivateKey  # P-256, signs registry tokens (ES256)
    spool_dir: Path  # upload sessions: ``<spool_dir>/<uuid>``
    faults: frozenset[str] = frozenset()
    token_ttl_s: int = 300
    clock: Callable[[], float] = field(default=time.time)

    @property
    def origin(self) -> str:
        return self.base_url.rstrip("/")

    def url(self, path: str) -> str:
        return self.origin + path

    @property
    def blob_links_path(self) -> Path:
        # Next to the spool, not in it: the spool holds only upload sessions.
        return self.spool_dir.parent / "blob-links.sqlite"
