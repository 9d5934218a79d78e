"""Fault scenarios (issue 5): writes to Stratos and the PDS while a service is paused or killed,
then everything read back; ``checks.resilience`` judges.

Two scenarios, both given the disturbance as plain callables (``lambda: runtime.pause(...)``)
so they do not depend on how the services run (processes or containers):

- ``pause_during_burst``: several writer threads send ``createRecord`` to Stratos, each record
  carrying a unique marker text; once the first writes are answered the service is frozen for a
  bounded time while writes are in flight, then thawed and the burst finishes. The collection is
  then listed and the repository exported.
- ``restart_keeps_data``: records written to Stratos and to the PDS, both services killed with
  SIGKILL and started again, the account signed in again, every acknowledged record read back,
  and one more write to each.

Each write's outcome is recorded as the client saw it: *acknowledged* (a 2xx answer: the
service said it is stored), *refused* (any other answer) or *unknown* (no answer: a timeout or a
broken connection — the write may or may not have happened, and neither verdict is allowed to
assume either). Nothing is retried: a retry would hide exactly the duplicates and losses the
checks look for.

Every loop is bounded in count and in time; probes never hold a token or a proof in ``case``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from conformance.clients.pds import AuthLike, PdsClient
from conformance.clients.stratos import post_record
from conformance.clients.xrpc import XrpcClient
from conformance.scenarios.base import Probe, body_of, is_success, list_all
from conformance.scenarios.stratos_repo import (
    PAGE_LIMIT,
    POST,
    Caller,
    StratosService,
    enrollment_record,
    rkey_of,
)

# What the PDS side of ``restart_keeps_data`` writes: a collection the reference PDS has no
# lexicon for, stored as-is (PDS-05: "unknown collections are stored as-is").
PDS_COLLECTION = "app.bsky.feed.post"
# Upper bounds whatever a caller asks for: a scenario must not turn into a load test.
MAX_BURST_WRITES = 500
MAX_BURST_SECONDS = 300.0
MAX_PAUSE_SECONDS = 30.0
MAX_RESTART_RECORDS = 50
# The burst writer that waits for the pause before its first write.
HELD_WRITER = 0


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # a 2xx answer: the service says the record is stored
    REFUSED = "refused"  # an answer that is not 2xx: the service says it is not
    UNKNOWN = "unknown"  # no answer at all: it may or may not have been stored


# --- the burst --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurstPlan:
    """How big and how long a write burst may get, and when the pause happens.

    Writers 2..n write from the start; the pause begins once ``pause_after`` writes have been
    answered, usually with some of theirs in the middle of being served. Writer 1 is held back
    until the service is frozen and then sends, so at least one write is certainly in flight
    during the pause (one write is kept for it whatever the others do).
    """

    writers: int = 4
    max_writes: int = 48
    max_seconds: float = 90.0
    write_timeout_s: float = 15.0
    pause_after: int = 8
    pause_s: float = 2.5

    def __post_init__(self) -> None:
        if not 2 <= self.writers <= 32:
            raise ValueError("writers must be between 2 and 32 (one is held for the pause)")
        if not 1 <= self.max_writes <= MAX_BURST_WRITES:
            raise ValueError(f"max_writes must be between 1 and {MAX_BURST_WRITES}")
        if not 0 < self.max_seconds <= MAX_BURST_SECONDS:
            raise ValueError(f"max_seconds must be in (0, {MAX_BURST_SECONDS:g}]")
        if not 0 < self.pause_s <= MAX_PAUSE_SECONDS:
            raise ValueError(f"pause_s must be in (0, {MAX_PAUSE_SECONDS:g}]")
        if not 0 < self.write_timeout_s <= self.max_seconds:
            raise ValueError("write_timeout_s must be positive and within max_seconds")
        if not 1 <= self.pause_after < self.max_writes:
            raise ValueError("pause_after must leave writes for during and after the pause")


@dataclass(frozen=True)
class BurstWrite:
    """One ``createRecord`` of a burst, as the client saw it. Times are seconds on the harness's
    monotonic clock since the burst started: ``sent_at`` just before sending, ``done_at`` once
    the answer (or the error) came back."""

    index: int
    writer: int
    marker: str
    sent_at: float
    done_at: float
    outcome: Outcome
    probe: Probe | None = None  # the answer, when one came (acknowledged or refused)
    error: str = ""  # why there was no answer (exception type and message; no secrets)

    @property
    def status(self) -> int | None:
        return self.probe.response.status_code if self.probe is not None else None

    @property
    def body(self) -> dict[str, Any]:
        return (body_of(self.probe.response) or {}) if self.probe is not None else {}

    @property
    def uri(self) -> str | None:
        uri = self.body.get("uri")
        return uri if isinstance(uri, str) else None

    @property
    def cid(self) -> str | None:
        cid = self.body.get("cid")
        return cid if isinstance(cid, str) else None

    @property
    def rev(self) -> str | None:
        commit = self.body.get("commit")
        rev = commit.get("rev") if isinstance(commit, dict) else None
        return rev if isinstance(rev, str) else None

    @property
    def commit_cid(self) -> str | None:
        commit = self.body.get("commit")
        cid = commit.get("cid") if isinstance(commit, dict) else None
        return cid if isinstance(cid, str) else None

    def describe(self) -> str:
        """One secret-free line naming the write (for failure messages)."""
        return f"write #{self.index + 1} (writer {self.writer + 1}, {self.marker!r})"


@dataclass(frozen=True)
class PauseWindow:
    """When the service was frozen, on the burst's clock: ``paused_at`` once ``pause()``
    returned, ``resumed_at`` just before ``resume()`` was called."""

    paused_at: float
    resumed_at: float


@dataclass(frozen=True)
class BurstResult:
    """A write burst against Stratos (paused in the middle, when ``pause`` is set), then the
    collection listed page by page, the repository exported with ``zone.stratos.sync.getRepo``,
    and the user's enrollment record (for the repo key that signs the commits)."""

    did: str
    collection: str
    marker_prefix: str
    writes: tuple[BurstWrite, ...]
    pause: PauseWindow | None
    listed: tuple[Probe, ...]
    export: Probe
    enrollment_record: Probe

    def with_outcome(self, outcome: Outcome) -> tuple[BurstWrite, ...]:
        return tuple(w for w in self.writes if w.outcome is outcome)

    @property
    def acknowledged(self) -> tuple[BurstWrite, ...]:
        return self.with_outcome(Outcome.ACKNOWLEDGED)

    @property
    def acknowledged_before_pause(self) -> tuple[BurstWrite, ...]:
        if self.pause is None:
            return ()
        paused_at = self.pause.paused_at
        return tuple(w for w in self.acknowledged if w.done_at <= paused_at)

    @property
    def sent_while_paused(self) -> tuple[BurstWrite, ...]:
        """Writes sent after the service was frozen and before it was thawed, answered (or
        given up on) after it was thawed: certainly in flight during the pause."""
        if self.pause is None:
            return ()
        window = self.pause
        return tuple(
            w
            for w in self.writes
            if window.paused_at <= w.sent_at < window.resumed_at and w.done_at >= window.resumed_at
        )

    @property
    def caught_by_pause(self) -> tuple[BurstWrite, ...]:
        """Writes sent before the service was frozen and answered only after it was thawed:
        caught in the middle (usually, not certainly: a writer may be between writes)."""
        if self.pause is None:
            return ()
        window = self.pause
        return tuple(
            w
            for w in self.writes
            if w.sent_at < window.paused_at and w.done_at >= window.resumed_at
        )


class _Burst:
    """The shared state of one burst: who writes next, what came back, and the pause gate."""

    def __init__(self, plan: BurstPlan, write: Callable[[int, int], BurstWrite]) -> None:
        self.plan = plan
        self._write = write
        self._started = time.monotonic()
        self._deadline = self._started + plan.max_seconds
        self._changed = threading.Condition()
        self._next = 0
        self._held_started = False
        self._results: list[BurstWrite] = []
        self._errors: list[BaseException] = []
        # Set once the service is paused (or the pause will not happen): the held writer goes.
        self.paused = threading.Event()

    def now(self) -> float:
        return time.monotonic() - self._started

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def _ticket(self, writer: int) -> int | None:
        with self._changed:
            # One write stays reserved for the held writer until it has taken its first.
            reserved = 0 if writer == HELD_WRITER or self._held_started else 1
            if (
                self._errors
                or self._next >= self.plan.max_writes - reserved
                or self.remaining() <= 0
            ):
                return None
            if writer == HELD_WRITER:
                self._held_started = True
            self._next += 1
            return self._next - 1

    def run_writer(self, writer: int) -> None:
        try:
            if writer == HELD_WRITER:
                self.paused.wait(timeout=self.remaining())
            # Bounded: at most max_writes tickets in all, none handed out after the deadline.
            while (index := self._ticket(writer)) is not None:
                result = self._write(index, writer)
                with self._changed:
                    self._results.append(result)
                    self._changed.notify_all()
        except BaseException as exc:  # a harness bug: surfaced by results(), not swallowed
            with self._changed:
                self._errors.append(exc)
                self._changed.notify_all()

    def wait_answered(self, count: int) -> bool:
        """Block until ``count`` writes came back (any outcome), or the deadline passes."""
        with self._changed:
            self._changed.wait_for(
                lambda: len(self._results) >= count or bool(self._errors) or self.remaining() <= 0,
                timeout=self.remaining(),
            )
            return len(self._results) >= count and not self._errors

    def results(self) -> tuple[BurstWrite, ...]:
        with self._changed:
            if self._errors:
                raise self._errors[0]
            return tuple(sorted(self._results, key=lambda w: w.index))


def _describe_error(exc: Exception) -> str:
    # httpx messages name the URL at most; never a header, so no token or proof.
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _write_marked(
    stratos: StratosService, owner: Caller, burst: _Burst, index: int, writer: int, marker: str
) -> BurstWrite:
    sent = burst.now()
    try:
        response = stratos.repo.create_record(owner.auth(), owner.did, POST, post_record(marker))
    except httpx.HTTPError as exc:
        error = _describe_error(exc)
        return BurstWrite(index, writer, marker, sent, burst.now(), Outcome.UNKNOWN, error=error)
    outcome = Outcome.ACKNOWLEDGED if is_success(response) else Outcome.REFUSED
    probe = Probe(f"createRecord {POST} ({marker!r})", response)
    return BurstWrite(index, writer, marker, sent, burst.now(), outcome, probe)


def pause_during_burst(
    service: StratosService,
    pds: PdsClient,
    service_did: str,
    owner: Caller,
    *,
    pause: Callable[[], object],
    resume: Callable[[], object],
    plan: BurstPlan | None = None,
) -> BurstResult:
    """A concurrent ``createRecord`` burst to ``owner``'s Stratos repo with the service paused
    in the middle (``pause()``/``resume()``), then everything read back.

    Each writer thread has its own HTTP client whose timeout is ``plan.write_timeout_s``;
    ``service`` (with its client's own timeout) is used for the reads afterwards. ``resume()``
    is always called once ``pause()`` has been, whatever happens in between.
    """
    plan = plan or BurstPlan()
    did = owner.did
    prefix = f"atconform burst {secrets.token_hex(4)}"
    clients = [
        httpx.Client(timeout=plan.write_timeout_s, trust_env=False) for _ in range(plan.writers)
    ]
    writers = [
        StratosService.of(XrpcClient(service.url, http), service.repo.redactor) for http in clients
    ]
    burst = _Burst(
        plan,
        lambda index, writer: _write_marked(
            writers[writer], owner, burst, index, writer, f"{prefix} #{index + 1:03d}"
        ),
    )
    threads = [
        threading.Thread(target=burst.run_writer, args=(n,), name=f"burst-writer-{n}", daemon=True)
        for n in range(plan.writers)
    ]
    window: PauseWindow | None = None
    try:
        for thread in threads:
            thread.start()
        if burst.wait_answered(plan.pause_after):
            window = _paused_for(plan.pause_s, burst, pause, resume)
    finally:
        # Held writes go now even if the pause never happened (they are still recorded).
        burst.paused.set()
        # Every write ends within its client timeout; the deadline bounds how many start.
        join_by = time.monotonic() + burst.remaining() + 4 * plan.write_timeout_s
        for thread in threads:
            thread.join(timeout=max(0.0, join_by - time.monotonic()))
        for client in clients:
            client.close()
    writes = burst.results()
    listed = list_all(
        lambda cursor: service.repo.list_records(
            did, POST, limit=PAGE_LIMIT, cursor=cursor, auth=owner.auth()
        ),
        f"listRecords {POST} after the burst, as the owner",
    )
    export = Probe(
        "zone.stratos.sync.getRepo after the burst, as the owner",
        service.get_repo(did, auth=owner.auth()),
    )
    return BurstResult(
        did,
        POST,
        prefix,
        writes,
        window,
        listed,
        export,
        enrollment_record(pds, did, service_did),
    )


def _paused_for(
    seconds: float, burst: _Burst, pause: Callable[[], object], resume: Callable[[], object]
) -> PauseWindow:
    pause()
    paused_at = burst.now()
    try:
        burst.paused.set()
        # A fixed sleep, not a wait on anything: the service is frozen, nothing can answer.
        time.sleep(seconds)
    finally:
        resumed_at = burst.now()
        resume()
    return PauseWindow(paused_at, resumed_at)


# --- kill -9 and restart ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """An account's credentials: a caller for Stratos (DPoP-bound OAuth session from its PDS)
    and an auth for its own PDS repo."""

    stratos: Caller
    pds: AuthLike = field(repr=False)


@dataclass(frozen=True)
class Restarts:
    """How to take each service down hard and bring it back (e.g. a runtime's ``kill`` with
    SIGKILL and its ``restart``); each callable returns once its step is done."""

    kill_stratos: Callable[[], object]
    restart_stratos: Callable[[], object]
    kill_pds: Callable[[], object]
    restart_pds: Callable[[], object]

    def steps(self) -> tuple[tuple[str, Callable[[], object]], ...]:
        return (
            ("kill -9 Stratos", self.kill_stratos),
            ("restart Stratos", self.restart_stratos),
            ("kill -9 the PDS", self.kill_pds),
            ("restart the PDS", self.restart_pds),
        )


@dataclass(frozen=True)
class MarkedWrite:
    """A ``createRecord`` whose record text is ``marker``, and its read-back after the restart
    (``None`` when the write was not acknowledged: there is nothing the service promised)."""

    marker: str
    write: Probe
    read: Probe | None = None


@dataclass(frozen=True)
class ServiceSurvival:
    """One service's side of ``restart_keeps_data``: writes before the kill, read back after the
    restart, and one write after it."""

    service: str
    collection: str
    before: tuple[MarkedWrite, ...]
    after: Probe


@dataclass(frozen=True)
class RestartResult:
    did: str
    outage: tuple[str, ...]  # the steps taken, in order
    stratos: ServiceSurvival
    pds: ServiceSurvival


def _marked(text: str, collection: str) -> dict[str, Any]:
    if collection == POST:
        return post_record(text)
    return {"$type": collection, "text": text, "createdAt": "2026-11-20T12:00:00.000Z"}


def restart_keeps_data(
    stratos: StratosService,
    pds: PdsClient,
    sign_in: Callable[[], SignedIn],
    restarts: Restarts,
    *,
    records: int = 5,
) -> RestartResult:
    """Write ``records`` posts to Stratos and to the PDS, kill both with SIGKILL and restart
    them, sign in again (a restart may end sessions; what must survive is data), read every
    acknowledged record back, and write once more to each."""
    if not 1 <= records <= MAX_RESTART_RECORDS:
        raise ValueError(f"records must be between 1 and {MAX_RESTART_RECORDS}")
    prefix = f"atconform restart {secrets.token_hex(4)}"
    credentials = sign_in()
    did = credentials.stratos.did

    def write_stratos(marker: str, who: SignedIn) -> Probe:
        return Probe(
            f"createRecord {POST} on Stratos ({marker!r})",
            stratos.repo.create_record(who.stratos.auth(), did, POST, _marked(marker, POST)),
        )

    def write_pds(marker: str, who: SignedIn) -> Probe:
        return Probe(
            f"createRecord {PDS_COLLECTION} on the PDS ({marker!r})",
            pds.create_record(who.pds, did, PDS_COLLECTION, _marked(marker, PDS_COLLECTION)),
        )

    stratos_before = [
        (marker, write_stratos(marker, credentials))
        for marker in (f"{prefix} stratos #{i + 1}" for i in range(records))
    ]
    pds_before = [
        (marker, write_pds(marker, credentials))
        for marker in (f"{prefix} pds #{i + 1}" for i in range(records))
    ]
    outage: list[str] = []
    for name, step in restarts.steps():
        step()
        outage.append(name)
    credentials = sign_in()

    def read_stratos(write: Probe) -> Probe | None:
        rkey = rkey_of(write.response)
        if rkey is None:
            return None
        return Probe(
            f"getRecord {POST}/{rkey} on Stratos after the restarts, as the owner",
            stratos.repo.get_record(did, POST, rkey, auth=credentials.stratos.auth()),
        )

    def read_pds(write: Probe) -> Probe | None:
        rkey = rkey_of(write.response)
        if rkey is None:
            return None
        return Probe(
            f"getRecord {PDS_COLLECTION}/{rkey} on the PDS after the restarts",
            pds.get_record(did, PDS_COLLECTION, rkey),
        )

    return RestartResult(
        did,
        tuple(outage),
        ServiceSurvival(
            "Stratos",
            POST,
            tuple(MarkedWrite(m, w, read_stratos(w)) for m, w in stratos_before),
            write_stratos(f"{prefix} stratos after", credentials),
        ),
        ServiceSurvival(
            "the PDS",
            PDS_COLLECTION,
            tuple(MarkedWrite(m, w, read_pds(w)) for m, w in pds_before),
            write_pds(f"{prefix} pds after", credentials),
        ),
    )
