"""Everything a Hold request handler needs, built once per app (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lexicons import Catalog

from ...common.sqlite import Database
from ...primitives.keys import SigningKey
from .config import HoldConfig
from .hold_repo import HoldRepo
from .service_auth import ServiceAuthVerifier
from .storage import BlobStorage
from .uploads import UploadService


@dataclass(frozen=True)
class Hold:
    config: HoldConfig
    db: Database
    catalog: Catalog
    key: SigningKey
    repo: HoldRepo
    storage: BlobStorage
    uploads: UploadService
    verifier: ServiceAuthVerifier
    clock: Callable[[], float]
