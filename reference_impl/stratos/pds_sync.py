"""Keeping users' PDSes in step with Stratos: the enrollment record and record stubs.

``PdsSync`` implements the core's ``StratosHooks``. The hooks run in worker threads right after a
change is durable; they only append rows to a durable outbox (``pds_outbox`` in
``service.sqlite``) and wake the worker. The worker — an asyncio task the app lifespan starts and
stops — writes each row to the user's PDS with their OAuth session (``OAuthClient``), oldest
first per DID: a DID's later rows wait while its oldest one is retried with exponential backoff,
so a stub's create is never overtaken by its delete. Rows leave the outbox only once delivered,
so a crash or restart re-sends at most the row in flight; every write is idempotent
(``putRecord``/``deleteRecord`` by key), which the core's at-least-once hooks need anyway.

What is written (docs/stratos.md):
- on enrolment: ``zone.stratos.actor.enrollment/<serviceDid>`` with the enrollment's record value;
- per created/updated record: a stub at the same collection and rkey whose ``source`` points at
  the full record here; per deleted record: the stub's deletion;
- on unenrolment (after the per-record deletes): the enrollment record's deletion, then the
  OAuth session is forgotten (and revoked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from ..common.oauth_client import NoSession, OAuthClientError
from ..common.oauth_client.locks import KeyedLocks
from ..common.sqlite import Database
from .enrollment import ENROLLMENT_COLLECTION, Enrollment
from .hooks import RecordChange

log = logging.getLogger("reference_impl.stratos.pds_sync")

Clock = Callable[[], float]
Kind = Literal["put", "delete", "forget"]

OUTBOX_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS pds_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        did TEXT NOT NULL,
        kind TEXT NOT NULL,                -- 'put' | 'delete' | 'forget'
        collection TEXT,
        rkey TEXT,
        record TEXT,                       -- JSON of the record to put
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        last_error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS pds_outbox_did ON pds_outbox(did, seq)",
)

PUT_RECORD = "com.atproto.repo.putRecord"
DELETE_RECORD = "com.atproto.repo.deleteRecord"
# Answers worth retrying; any other 4xx will not get better by asking again.
_RETRY_STATUSES = frozenset({401, 408, 425, 429})
_IDLE_WAIT_S = 60.0


class PdsWriter(Protocol):
    """What the sync needs from ``OAuthClient`` (calls as the user, forgetting a session)."""

    async def procedure(self, did: str, nsid: str, body: Any) -> httpx.Response: ...

    async def forget(
        self, did: str, *, revoke: bool = True, logged_in_before: float | None = None
    ) -> bool: ...


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    did: str
    kind: Kind
    collection: str | None
    rkey: str | None
    record: dict[str, Any] | None
    attempts: int
    next_attempt_at: float
    created_at: float


@dataclass(frozen=True)
class _New:
    did: str
    kind: Kind
    collection: str | None = None
    rkey: str | None = None
    record: dict[str, Any] | None = None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stub_record(did: str, service_did: str, change: RecordChange, now: float) -> dict[str, Any]:
    """The public stand-in for a Stratos record, stored in the user's PDS under the same key.

    It carries no content: only where the real record lives and that reading it depends on who
    asks. ``createdAt`` is the record's own, so the stub sorts where the record does.
    """
    created_at = (change.record or {}).get("createdAt")
    return {
        "$type": change.collection,
        "text": "",
        "createdAt": created_at if isinstance(created_at, str) else _iso(now),
        "source": {
            "vary": "authenticated",
            "subject": {"uri": change.uri(did), "cid": change.cid},
            "service": f"{service_did}#stratos",
        },
    }


class PdsSync:
    """The core's hooks, delivering to users' PDSes through ``oauth`` (see module doc)."""

    def __init__(
        self,
        db: Database,
        oauth: PdsWriter,
        service_did: str,
        clock: Clock = time.time,
        *,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        concurrency: int = 8,
    ) -> None:
        db.apply_schema(OUTBOX_SCHEMA)
        self._db = db
        self._oauth = oauth
        self._service_did = service_did
        self._clock = clock
        self._base_backoff_s = base_backoff_s
        self._max_backoff_s = max_backoff_s
        self._concurrency = concurrency
        self._locks = KeyedLocks()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # -- hooks (worker threads; quick and durable) -------------------------------------------

    def on_enrolled(self, enrollment: Enrollment) -> None:
        self._enqueue(
            [
                _New(
                    enrollment.did,
                    "put",
                    ENROLLMENT_COLLECTION,
                    self._service_did,
                    enrollment.record_value(),
                )
            ]
        )

    def on_records_changed(self, did: str, changes: Sequence[RecordChange]) -> None:
        now = self._clock()
        rows: list[_New] = []
        for change in changes:
            if change.collection == ENROLLMENT_COLLECTION:
                # A stub there could overwrite or delete the enrollment record itself.
                continue
            if change.action == "delete":
                rows.append(_New(did, "delete", change.collection, change.rkey))
            else:
                stub = stub_record(did, self._service_did, change, now)
                rows.append(_New(did, "put", change.collection, change.rkey, stub))
        self._enqueue(rows)

    def on_unenrolled(self, did: str) -> None:
        self._enqueue(
            [
                _New(did, "delete", ENROLLMENT_COLLECTION, self._service_did),
                _New(did, "forget"),
            ]
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker in the running loop (call from the app lifespan)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="stratos-pds-sync")

    async def stop(self) -> None:
        """Stop the worker. A row in flight stays in the outbox and is re-sent next start."""
        task, self._task = self._task, None
        self._loop = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- delivery ------------------------------------------------------------------------------

    async def deliver_now(self, did: str) -> bool:
        """Try every queued row of ``did`` now, in order, ignoring backoff (the enrollment
        callback uses this to write the record before it answers). True when none is left."""
        return await self._deliver_did(did, forced=True)

    def pending(self, did: str | None = None) -> list[OutboxItem]:
        """Rows not yet delivered (oldest first), for diagnostics and tests."""
        if did is None:
            rows = self._db.query("SELECT * FROM pds_outbox ORDER BY seq")
        else:
            rows = self._db.query("SELECT * FROM pds_outbox WHERE did = ? ORDER BY seq", (did,))
        return [_item(r) for r in rows]

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                wait_s = await self._deliver_due()
            except Exception:
                log.exception("PDS sync pass failed; retrying shortly")
                wait_s = self._base_backoff_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait_s)

    async def _deliver_due(self) -> float:
        """Deliver every DID whose oldest row is due; seconds until the next row is due."""
        heads = await asyncio.to_thread(self._heads)
        now = self._clock()
        due = [did for did, at in heads if at <= now]
        if due:
            gate = asyncio.Semaphore(self._concurrency)

            async def one(did: str) -> None:
                async with gate:
                    await self._deliver_did(did, forced=False)

            await asyncio.gather(*(one(did) for did in due))
            heads = await asyncio.to_thread(self._heads)
        if not heads:
            return _IDLE_WAIT_S
        return max(0.0, min(at for _, at in heads) - self._clock())

    async def _deliver_did(self, did: str, *, forced: bool) -> bool:
        async with self._locks.hold(did):
            while True:
                item = await asyncio.to_thread(self._head, did)
                if item is None:
                    return True
                if not forced and item.next_attempt_at > self._clock():
                    return False
                error = await self._deliver(item)
                if error is None:
                    await asyncio.to_thread(self._remove, item.seq)
                    continue
                if error.permanent:
                    log.warning(
                        "dropping PDS %s of %s %s/%s: %s",
                        item.kind,
                        did,
                        item.collection,
                        item.rkey,
                        error.message,
                    )
                    await asyncio.to_thread(self._remove, item.seq)
                    continue
                await asyncio.to_thread(self._postpone, item, error.message)
                return False

    async def _deliver(self, item: OutboxItem) -> _Failure | None:
        try:
            if item.kind == "forget":
                await self._oauth.forget(item.did, logged_in_before=item.created_at)
                return None
            if item.kind == "put":
                body: dict[str, Any] = {
                    "repo": item.did,
                    "collection": item.collection,
                    "rkey": item.rkey,
                    "record": item.record,
                }
                response = await self._oauth.procedure(item.did, PUT_RECORD, body)
            else:
                body = {"repo": item.did, "collection": item.collection, "rkey": item.rkey}
                response = await self._oauth.procedure(item.did, DELETE_RECORD, body)
        except NoSession as exc:
            # The user revoked our access (or never granted it): nothing can be written for
            # them until they enrol again, which queues the enrollment record afresh.
            return _Failure(exc.message, permanent=True)
        except OAuthClientError as exc:
            return _Failure(exc.message, permanent=False)
        except Exception as exc:
            # A bug or an unforeseen failure: keep the row (it may well succeed later) and
            # keep the worker alive.
            log.exception("unexpected failure delivering to the PDS of %s", item.did)
            return _Failure(type(exc).__name__, permanent=False)
        if response.is_success:
            return None
        method = PUT_RECORD if item.kind == "put" else DELETE_RECORD
        message = f"HTTP {response.status_code} from {method}"
        permanent = response.status_code < 500 and response.status_code not in _RETRY_STATUSES
        return _Failure(message, permanent)

    # -- the outbox table (blocking; called in worker threads) ---------------------------------

    def _enqueue(self, rows: Sequence[_New]) -> None:
        if not rows:
            return
        now = self._clock()
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO pds_outbox (did, kind, collection, rkey, record, next_attempt_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.did,
                        r.kind,
                        r.collection,
                        r.rkey,
                        json.dumps(r.record) if r.record is not None else None,
                        now,
                        now,
                    )
                    for r in rows
                ],
            )
        self._notify()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return  # not started: the worker finds the rows when it starts
        # Hooks run in worker threads; the event belongs to the loop's thread.
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    def _heads(self) -> list[tuple[str, float]]:
        rows = self._db.query(
            "SELECT o.did, o.next_attempt_at FROM pds_outbox o"
            " JOIN (SELECT did, MIN(seq) AS seq FROM pds_outbox GROUP BY did) h ON o.seq = h.seq"
        )
        return [(r["did"], r["next_attempt_at"]) for r in rows]

    def _head(self, did: str) -> OutboxItem | None:
        row = self._db.query_one(
            "SELECT * FROM pds_outbox WHERE did = ? ORDER BY seq LIMIT 1", (did,)
        )
        return _item(row) if row is not None else None

    def _remove(self, seq: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM pds_outbox WHERE seq = ?", (seq,))

    def _postpone(self, item: OutboxItem, error: str) -> None:
        attempts = item.attempts + 1
        delay = min(self._max_backoff_s, self._base_backoff_s * 2 ** (attempts - 1))
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE pds_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?"
                " WHERE seq = ?",
                (attempts, self._clock() + delay, error[:500], item.seq),
            )
        log.info(
            "PDS %s of %s %s/%s failed (%s); retry %d in %.0f s",
            item.kind,
            item.did,
            item.collection,
            item.rkey,
            error,
            attempts,
            delay,
        )


@dataclass(frozen=True)
class _Failure:
    message: str
    permanent: bool


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        seq=row["seq"],
        did=row["did"],
        kind=row["kind"],
        collection=row["collection"],
        rkey=row["rkey"],
        record=json.loads(row["record"]) if row["record"] is not None else None,
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
    )
