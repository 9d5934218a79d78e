"""The PDS's services, wired once at start-up and handed to the route adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lexicons import Catalog

from ..common.sqlite import Database
from .accounts import AccountService
from .blobs import BlobService
from .config import PdsConfig
from .repos import RepoService
from .sessions import SessionService


@dataclass(frozen=True)
class Pds:
    config: PdsConfig
    db: Database
    catalog: Catalog
    accounts: AccountService
    sessions: SessionService
    repos: RepoService
    blobs: BlobService
    clock: Callable[[], float]
