"""Stratos storage: ``service.sqlite`` and one ``actors/<did>.sqlite`` per enrolled user.

The service file holds what is shared (service key, enrollments, the event log); other modules
(OAuth sessions, the stub outbox) add their own tables with ``Database.apply_schema``. Each
user's repository lives in its own file so writes of different users never wait on one SQLite
write lock (STR-RL-03), and unenrolling deletes one file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lexicons.syntax import is_valid_did

from ..common.sqlite import Database

SERVICE_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS service_secret (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS enrollment (
        did TEXT PRIMARY KEY,
        handle TEXT,
        boundaries TEXT NOT NULL,          -- JSON array of qualified domains, sorted
        signing_key BLOB NOT NULL,         -- the user's P-256 repo key (32-byte scalar)
        attestation_sig BLOB NOT NULL,
        enrolled_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS enrollment_handle ON enrollment(handle)",
    # The subscribeRecords log. ``source`` makes re-publishing a recovered commit idempotent.
    """CREATE TABLE IF NOT EXISTS event (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        did TEXT NOT NULL,
        kind TEXT NOT NULL,                -- '#commit' | '#enrollment'
        body BLOB NOT NULL,                -- DAG-CBOR of the frame body without 'seq'
        source TEXT UNIQUE,
        created_at TEXT NOT NULL
    )""",
)

ACTOR_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS repo_root (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        commit_cid TEXT NOT NULL,
        rev TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS repo_block (
        cid BLOB PRIMARY KEY,
        content BLOB NOT NULL,
        rev TEXT NOT NULL
    ) WITHOUT ROWID""",
    # The record index answers visibility questions without decoding a record, so a hidden
    # record and a missing one cost the same work (STR-BND-07).
    """CREATE TABLE IF NOT EXISTS record (
        collection TEXT NOT NULL,
        rkey TEXT NOT NULL,
        cid TEXT NOT NULL,
        rev TEXT NOT NULL,
        boundary TEXT,                     -- JSON array of domains; NULL: no boundary
        PRIMARY KEY (collection, rkey)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS blob (
        cid TEXT PRIMARY KEY,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        content BLOB NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS record_blob (
        collection TEXT NOT NULL,
        rkey TEXT NOT NULL,
        blob_cid TEXT NOT NULL,
        rev TEXT NOT NULL,
        PRIMARY KEY (collection, rkey, blob_cid)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS record_blob_cid ON record_blob(blob_cid)",
    # Commits not yet published to the event log and hooks, written in the commit's own
    # transaction: after a crash they are published on startup (see publisher.py).
    """CREATE TABLE IF NOT EXISTS pending_publication (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        payload TEXT NOT NULL
    )""",
)


def open_service_database(data_dir: Path) -> Database:
    return Database(data_dir / "service.sqlite", SERVICE_SCHEMA)


class ActorStore:
    """Opens, caches, creates and deletes the per-user databases.

    The cache is instance state (one ``Database`` per DID, each with per-thread connections);
    a DID whose file does not exist is never created by a read.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Database] = {}
        self._lock = threading.Lock()

    def path(self, did: str) -> Path:
        # DIDs cannot hold '/', but a path must never be built from an unchecked string.
        if not is_valid_did(did) or "/" in did or did.startswith("."):
            raise ValueError(f"not a DID: {did!r}")
        return self.directory / f"{did}.sqlite"

    def get(self, did: str) -> Database | None:
        """The user's database if their file exists."""
        with self._lock:
            db = self._open.get(did)
            if db is not None:
                return db
            path = self.path(did)
            if not path.exists():
                return None
            db = Database(path, ACTOR_SCHEMA)
            self._open[did] = db
            return db

    def create(self, did: str) -> Database:
        with self._lock:
            db = self._open.get(did)
            if db is None:
                db = Database(self.path(did), ACTOR_SCHEMA)
                self._open[did] = db
            return db

    def delete(self, did: str) -> None:
        """Remove the user's file (and its WAL). Callers hold the DID's lock."""
        with self._lock:
            db = self._open.pop(did, None)
            if db is not None:
                db.close()
            path = self.path(did)
            for suffix in ("", "-wal", "-shm", "-journal"):
                candidate = path.with_name(path.name + suffix)
                candidate.unlink(missing_ok=True)

    def known_dids(self) -> list[str]:
        return sorted(p.name.removesuffix(".sqlite") for p in self.directory.glob("*.sqlite"))


class DidLocks:
    """One lock per DID: a user's writes, enrolment and unenrolment happen one at a time, so a
    commit and its event are published in rev order; different users never wait on each other.
    """

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, did: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(did, threading.Lock())
        with lock:
            yield
