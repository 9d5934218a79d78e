"""PdsSync's outbox rules with a scripted stand-in for the OAuth client: per-DID order,
head-of-line retry with capped backoff, what is dropped, durability across instances, and
hooks waking the worker from other threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from reference_impl.common.oauth_client import NoSession, UpstreamError
from reference_impl.common.sqlite import Database
from reference_impl.stratos.hooks import RecordChange
from reference_impl.stratos.pds_sync import PdsSync, stub_record

T = TypeVar("T")
SERVICE = "did:web:stratos.test"
A = "did:plc:" + "a" * 24
B = "did:plc:" + "b" * 24
POST = "zone.stratos.feed.post"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakePds:
    """Stands in for OAuthClient: records calls, answers from a per-DID script."""

    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    script: dict[str, list[int | Exception]] = field(default_factory=dict)
    forgotten: list[tuple[str, float | None]] = field(default_factory=list)

    async def procedure(self, did: str, nsid: str, body: Any) -> httpx.Response:
        plan = self.script.get(did)
        outcome = plan.pop(0) if plan else 200
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == 200:
            self.calls.append((did, nsid.rsplit(".", 1)[1], body.get("rkey")))
        return httpx.Response(outcome, json={})

    async def forget(
        self, did: str, *, revoke: bool = True, logged_in_before: float | None = None
    ) -> bool:
        self.forgotten.append((did, logged_in_before))
        return True


def change(action: str, rkey: str, collection: str = POST) -> RecordChange:
    record = (
        None
        if action == "delete"
        else {"$type": collection, "createdAt": "2026-01-01T00:00:00.000Z"}
    )
    return RecordChange(action, collection, rkey, None if action == "delete" else "bafycid", record)  # type: ignore[arg-type]


def make(tmp_path: Path, fake: FakePds, clock: Callable[[], float], **kw: Any) -> PdsSync:
    return PdsSync(Database(tmp_path / "service.sqlite"), fake, SERVICE, clock, **kw)


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro())


def test_stub_record_shape() -> None:
    stub = stub_record(A, SERVICE, change("create", "3kabc"), 0)
    assert stub == {
        "$type": POST,
        "text": "",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "source": {
            "vary": "authenticated",
            "subject": {"uri": f"at://{A}/{POST}/3kabc", "cid": "bafycid"},
            "service": f"{SERVICE}#stratos",
        },
    }
    no_date = RecordChange("create", POST, "k", "c", {"text": "x"})
    assert stub_record(A, SERVICE, no_date, 0)["createdAt"] == "1970-01-01T00:00:00.000Z"


def test_rows_are_delivered_in_order_per_did(tmp_path: Path) -> None:
    fake, clock = FakePds(), Clock()
    sync = make(tmp_path, fake, clock)
    sync.on_records_changed(
        A, [change("create", "1"), change("update", "1"), change("delete", "1")]
    )
    assert run(lambda: sync.deliver_now(A)) is True
    assert fake.calls == [(A, "putRecord", "1"), (A, "putRecord", "1"), (A, "deleteRecord", "1")]
    assert sync.pending() == []


def test_a_failing_row_blocks_its_did_only_and_backs_off_exponentially(tmp_path: Path) -> None:
    fake, clock = FakePds(), Clock()
    fake.script[A] = [503, UpstreamError("down"), 503, 503, 200, 200]
    sync = make(tmp_path, fake, clock, base_backoff_s=1, max_backoff_s=4)
    sync.on_records_changed(A, [change("create", "1"), change("delete", "1")])
    sync.on_records_changed(B, [change("create", "2")])

    delays = []
    for _ in range(4):
        assert run(lambda: sync.deliver_now(A)) is False
        head, behind = sync.pending(A)
        assert (head.rkey, head.kind) == ("1", "put") and behind.attempts == 0
        delays.append(head.next_attempt_at - clock.now)
    assert delays == [1, 2, 4, 4]  # doubling, capped
    assert run(lambda: sync.deliver_now(B)) is True  # B never waited for A

    assert run(lambda: sync.deliver_now(A)) is True
    assert [c for c in fake.calls if c[0] == A] == [(A, "putRecord", "1"), (A, "deleteRecord", "1")]


def test_permanent_refusals_and_lost_sessions_are_dropped(tmp_path: Path) -> None:
    fake, clock = FakePds(), Clock()
    fake.script[A] = [400, NoSession("gone")]
    sync = make(tmp_path, fake, clock)
    sync.on_records_changed(
        A, [change("create", "1"), change("create", "2"), change("create", "3")]
    )
    assert run(lambda: sync.deliver_now(A)) is True
    assert fake.calls == [(A, "putRecord", "3")]


def test_retryable_statuses_are_kept(tmp_path: Path) -> None:
    for status in (401, 429, 500, 502):
        fake, clock = FakePds(), Clock()
        fake.script[A] = [status]
        sync = make(tmp_path / str(status), fake, clock)
        sync.on_records_changed(A, [change("create", "1")])
        assert run(lambda sync=sync: sync.deliver_now(A)) is False
        assert sync.pending(A)[0].attempts == 1


def test_the_enrollment_collection_never_gets_stubs(tmp_path: Path) -> None:
    fake, clock = FakePds(), Clock()
    sync = make(tmp_path, fake, clock)
    sync.on_records_changed(
        A,
        [
            change("create", SERVICE, "zone.stratos.actor.enrollment"),
            change("delete", SERVICE, "zone.stratos.actor.enrollment"),
            change("create", "ok"),
        ],
    )
    assert [r.rkey for r in sync.pending(A)] == ["ok"]


def test_unenrolment_deletes_the_record_then_forgets_sessions_older_than_itself(
    tmp_path: Path,
) -> None:
    fake, clock = FakePds(), Clock()
    sync = make(tmp_path, fake, clock)
    sync.on_unenrolled(A)
    queued_at = clock.now
    clock.now += 100  # delivered later, e.g. after an outage
    assert run(lambda: sync.deliver_now(A)) is True
    assert fake.calls == [(A, "deleteRecord", SERVICE)]
    assert fake.forgotten == [(A, queued_at)]


def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    fake, clock = FakePds(), Clock()
    make(tmp_path, fake, clock).on_records_changed(A, [change("create", "1")])
    assert fake.calls == []

    async def restarted() -> None:
        sync = make(tmp_path, fake, clock)
        await sync.start()
        try:
            for _ in range(200):
                if not sync.pending():
                    break
                await asyncio.sleep(0.01)
        finally:
            await sync.stop()

    run(restarted)
    assert fake.calls == [(A, "putRecord", "1")]


def test_hooks_from_worker_threads_wake_the_worker(tmp_path: Path) -> None:
    fake = FakePds()
    sync = make(tmp_path, fake, Clock())

    async def scenario() -> float:
        await sync.start()
        try:
            await asyncio.sleep(0.05)  # the worker is idle now (its idle wait is a minute)
            loop = asyncio.get_running_loop()
            started = loop.time()
            thread = threading.Thread(
                target=sync.on_records_changed, args=(B, [change("create", "x")])
            )
            thread.start()
            thread.join()
            while not fake.calls:
                assert loop.time() - started < 2, "the worker was not woken"
                await asyncio.sleep(0.005)
            return loop.time() - started
        finally:
            await sync.stop()

    assert run(scenario) < 2
    assert fake.calls == [(B, "putRecord", "x")]


def test_stop_is_idempotent_and_start_twice_is_harmless(tmp_path: Path) -> None:
    sync = make(tmp_path, FakePds(), Clock())

    async def scenario() -> None:
        await sync.stop()
        await sync.start()
        await sync.start()
        await sync.stop()
        await sync.stop()

    run(scenario)


@pytest.mark.parametrize("bad", [RuntimeError("boom")])
def test_an_unexpected_error_in_delivery_does_not_kill_the_worker(
    tmp_path: Path, bad: Exception
) -> None:
    fake, clock = FakePds(), Clock()
    calls = {"n": 0}
    original = fake.procedure

    async def flaky(did: str, nsid: str, body: Any) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise bad
        return await original(did, nsid, body)

    fake.procedure = flaky  # type: ignore[method-assign]
    sync = make(tmp_path, fake, clock, base_backoff_s=0.01)

    async def scenario() -> None:
        await sync.start()
        try:
            sync.on_records_changed(A, [change("create", "1")])
            for _ in range(300):
                if fake.calls:
                    return
                clock.now += 1  # let backoff elapse on the sync's clock
                await asyncio.sleep(0.01)
        finally:
            await sync.stop()

    run(scenario)
    assert fake.calls == [(A, "putRecord", "1")]
