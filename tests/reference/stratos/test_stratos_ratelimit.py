"""Write rate limits (STR-RL-*): the pure limiter, and the headers over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stratos_support import RunningStratos, auth, new_did, post, running_stratos

from reference_impl.stratos.config import RateLimitSettings
from reference_impl.stratos.ratelimit import WriteRateLimiter

POST = "zone.stratos.feed.post"
HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the pure limiter ---------------------------------------------------------------------------


def test_window_counts_down_refuses_and_reopens() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(RateLimitSettings(max_writes=3, window_ms=2500), clock)
    fresh = limiter.state("did:plc:a")
    assert (fresh.remaining, fresh.reset_s, fresh.policy) == (3, 3, "3;w=3")
    assert [limiter.acquire("did:plc:a").state.remaining for _ in range(3)] == [2, 1, 0]
    clock.now += 1.2
    refused = limiter.acquire("did:plc:a")
    assert not refused.allowed and refused.retry_after_s == 2 and refused.state.remaining == 0
    assert limiter.acquire("did:plc:b").state.remaining == 2  # another DID is untouched
    clock.now += 1.3  # the window opened at 1000.0 ends at 1002.5
    assert limiter.acquire("did:plc:a").state.remaining == 2


def test_batch_fits_whole_or_not_at_all_and_release() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(RateLimitSettings(max_writes=5, window_ms=1000), clock)
    assert limiter.acquire("d", 4).allowed
    refused = limiter.acquire("d", 2)
    assert not refused.allowed and limiter.state("d").remaining == 1
    limiter.release("d", 4)
    assert limiter.state("d").remaining == 5
    clock.now += 0.999
    assert limiter.state("d").reset_s == 1  # never 0 while the window is open


# -- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[RunningStratos, FakeClock]]:
    clock = FakeClock()
    env = {"STRATOS_WRITE_RATE_MAX_WRITES": "5", "STRATOS_WRITE_RATE_WINDOW_MS": "1000"}
    with running_stratos(tmp_path, env, rate_clock=clock) as svc:
        yield svc, clock


def _limits(response: httpx.Response) -> dict[str, str]:
    return {h: response.headers[h] for h in HEADERS}


@pytest.mark.requirement("STR-RL-01", "STR-RL-02", "STR-RL-05")
def test_countdown_429_and_reads_not_counted(limited: tuple[RunningStratos, FakeClock]) -> None:
    svc, clock = limited
    did = new_did()
    svc.enroll(did, "engineering")
    remaining = []
    for i in range(5):
        response = svc.create(did, post(f"n{i}"))
        assert response.status_code == 200, response.text
        limits = _limits(response)
        assert limits["ratelimit-limit"] == "5" and limits["ratelimit-policy"] == "5;w=1"
        assert limits["ratelimit-reset"] == "1"
        remaining.append(int(limits["ratelimit-remaining"]))
        # Reads in between do not count.
        svc.get("com.atproto.repo.listRecords", {"repo": did, "collection": POST}, did)
    assert remaining == [4, 3, 2, 1, 0]

    refused = svc.create(did, post("one too many"))
    assert refused.status_code == 429 and refused.json()["error"] == "RateLimitExceeded"
    assert refused.headers["retry-after"] == "1"
    assert _limits(refused)["ratelimit-remaining"] == "0"
    listed = svc.get(
        "com.atproto.repo.listRecords", {"repo": did, "collection": POST, "limit": 100}, did
    ).json()
    assert len(listed["records"]) == 5  # nothing written by the refused call

    clock.now += 1.0
    again = svc.create(did, post("new window"))
    assert again.status_code == 200 and again.headers["ratelimit-remaining"] == "4"


@pytest.mark.requirement("STR-RL-03")
def test_one_did_at_its_limit_does_not_block_another(
    limited: tuple[RunningStratos, FakeClock],
) -> None:
    svc, _ = limited
    busy, calm = new_did(), new_did()
    svc.enroll(busy, "engineering")
    svc.enroll(calm, "engineering")
    for _ in range(5):
        assert svc.create(busy, post("x")).status_code == 200
    assert svc.create(busy, post("x")).status_code == 429
    started = time.perf_counter()
    response = svc.create(calm, post("y"))
    assert response.status_code == 200 and response.headers["ratelimit-remaining"] == "4"
    assert time.perf_counter() - started < 1.0


@pytest.mark.requirement("STR-RL-01", "STR-RL-02")
def test_apply_writes_counts_each_op_and_errors_carry_headers(
    limited: tuple[RunningStratos, FakeClock],
) -> None:
    svc, _ = limited
    did, stranger = new_did(), new_did()
    svc.enroll(did, "engineering")

    def op(text: str) -> dict[str, object]:
        return {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": POST,
            "value": post(text),
        }

    three = svc.post(
        "com.atproto.repo.applyWrites", {"repo": did, "writes": [op("a"), op("b"), op("c")]}, did
    )
    assert three.status_code == 200 and three.headers["ratelimit-remaining"] == "2"
    too_many = svc.post(
        "com.atproto.repo.applyWrites", {"repo": did, "writes": [op("d"), op("e"), op("f")]}, did
    )
    assert too_many.status_code == 429 and too_many.headers["ratelimit-remaining"] == "2"

    # A refused write is not counted, and its response still carries the headers.
    invalid = svc.post("com.atproto.repo.createRecord", {"repo": did, "collection": POST}, did)
    assert invalid.status_code == 400 and invalid.headers["ratelimit-remaining"] == "2"
    foreign = svc.create(did, post("x", ["did:web:elsewhere.test/x"]))
    assert foreign.status_code == 400 and foreign.headers["ratelimit-remaining"] == "2"
    anonymous = svc.post(
        "com.atproto.repo.createRecord", {"repo": did, "collection": POST, "record": post("x")}
    )
    assert anonymous.status_code == 401 and anonymous.headers["ratelimit-remaining"] == "5"
    not_enrolled = svc.create(stranger, post("x"))
    assert not_enrolled.status_code == 403 and set(HEADERS) <= set(not_enrolled.headers)

    # Blob uploads carry the headers but are not counted.
    blob = svc.http.post(svc.xrpc("com.atproto.repo.uploadBlob"), content=b"abc", headers=auth(did))
    assert blob.status_code == 200 and blob.headers["ratelimit-remaining"] == "2"
    # Reads carry none.
    read = svc.get("com.atproto.repo.listRecords", {"repo": did, "collection": POST}, did)
    assert not set(HEADERS) & set(read.headers)


@pytest.mark.requirement("STR-RL-04")
def test_writes_succeed_after_the_advertised_reset(tmp_path: Path) -> None:
    # A 3 s window: three writes on loopback fit in it even on a loaded machine.
    env = {"STRATOS_WRITE_RATE_MAX_WRITES": "2", "STRATOS_WRITE_RATE_WINDOW_MS": "3000"}
    with running_stratos(tmp_path, env) as svc:  # the real clock
        did = new_did()
        svc.enroll(did, "engineering")
        for _ in range(2):
            assert svc.create(did, post("x")).status_code == 200
        refused = svc.create(did, post("x"))
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        assert svc.create(did, post("after reset")).status_code == 200


def test_fault_no_ratelimit_headers(tmp_path: Path) -> None:
    with running_stratos(tmp_path, faults=["no-ratelimit-headers"]) as svc:
        did = new_did()
        svc.enroll(did, "engineering")
        response = svc.create(did, post("x"))
        assert response.status_code == 200
        assert not set(HEADERS) & set(response.headers)
