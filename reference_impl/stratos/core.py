"""The Stratos service's parts, built once and handed to the routes (no web framework here)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from lexicons import Catalog, load_catalog

from ..common.sqlite import Database
from ..primitives.keys import SigningKey
from ..primitives.tid import TidClock
from .config import StratosConfig
from .enrollment import EnrollmentService
from .events import EventLog
from .hooks import NoHooks, StratosHooks
from .identity import load_service_key
from .publisher import Publisher
from .ratelimit import Clock, WriteRateLimiter
from .reads import ReadService
from .records import RecordPreparer
from .repos import RepoService
from .store import SERVICE_SCHEMA, ActorStore, DidLocks, open_service_database
from .writes import WriteService

log = logging.getLogger("reference_impl.stratos")


@dataclass(frozen=True)
class Stratos:
    config: StratosConfig
    db: Database  # service.sqlite; other modules may add tables with apply_schema
    catalog: Catalog
    service_key: SigningKey
    actors: ActorStore
    repos: RepoService
    enrollments: EnrollmentService
    events: EventLog
    limiter: WriteRateLimiter
    publisher: Publisher
    reads: ReadService
    writes: WriteService

    def close(self) -> None:
        self.db.close()


def build_stratos(
    config: StratosConfig,
    hooks: StratosHooks | None = None,
    *,
    db: Database | None = None,
    rate_clock: Clock = time.monotonic,
) -> Stratos:
    """Open (or create) the service's storage under ``config.data_dir`` and build its parts.

    ``db``: an already opened ``service.sqlite`` to share (e.g. with the PDS sync's outbox);
    its schema is applied here. Commits a crash left unpublished are published before return.
    """
    hooks = hooks if hooks is not None else NoHooks()
    if db is None:
        db = open_service_database(config.data_dir)
    else:
        db.apply_schema(SERVICE_SCHEMA)
    service_key = load_service_key(db)
    catalog = load_catalog()
    actors = ActorStore(config.data_dir / "actors")
    tids = TidClock()
    locks = DidLocks()
    repos = RepoService(actors, tids)
    events = EventLog(db)
    enrollments = EnrollmentService(db, config, service_key, repos, locks, hooks)
    limiter = WriteRateLimiter(config.rate_limit, rate_clock)
    publisher = Publisher(repos, events, hooks)
    preparer = RecordPreparer(catalog, tids, config.service_did)
    stratos = Stratos(
        config=config,
        db=db,
        catalog=catalog,
        service_key=service_key,
        actors=actors,
        repos=repos,
        enrollments=enrollments,
        events=events,
        limiter=limiter,
        publisher=publisher,
        reads=ReadService(enrollments, repos, config.faults),
        writes=WriteService(enrollments, repos, preparer, limiter, publisher, locks),
    )
    _recover(stratos, locks)
    return stratos


def _recover(stratos: Stratos, locks: DidLocks) -> None:
    """Publish commits a crash left queued (see publisher.py)."""
    for did in stratos.enrollments.enrolled_dids():
        with locks.hold(did):
            count = stratos.publisher.publish_pending(did)
        if count:
            log.info("published %d queued commit(s) of %s after a restart", count, did)
