"""STR-BND-01..08: each check passes against a correct fake Stratos and returns a Failure with
exactly its requirement ID against one broken on purpose (``ratelimit_fakes.FakeStratos``, real
HTTP on loopback). Also the pure helpers: TIDs, the response comparison, medians."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from ratelimit_fakes import (
    DESIGN,
    ENGINEERING,
    OUTSIDER,
    OWNER,
    PEER,
    SERVICE_DID,
    FakeAuth,
    running_stratos,
)

from conformance.checks.base import Failure
from conformance.checks.stratos_access import (
    check_boundary_writes,
    check_hidden_like_missing,
    check_indexing,
    check_listing_hides,
    check_sync_record_boundary,
    check_timing,
    check_unauthenticated_like_missing,
    check_visible_reads,
    relative_difference,
    timing_summary,
)
from conformance.clients.xrpc import XrpcClient
from conformance.scenarios.base import Probe
from conformance.scenarios.stratos_access import (
    BoundaryRecords,
    TimingSamples,
    Viewer,
    comparable_headers,
    median,
    percentile,
    probe_boundary_writes,
    probe_hidden_reads,
    probe_indexing,
    probe_listing,
    probe_sync_records,
    probe_visible_reads,
    random_tid,
    record_boundary,
    response_differences,
    sample_not_found_timing,
    write_boundary_records,
)
from lexicons.syntax import is_valid_tid


def failed(failure: Failure | None, requirement: str) -> Failure:
    assert failure is not None, "the check did not notice"
    assert failure.requirement == requirement
    assert failure.title and failure.message
    assert "Bearer" not in failure.message
    return failure


@dataclass(frozen=True)
class World:
    stratos: XrpcClient
    owner: Viewer
    peer: Viewer
    outsider: Viewer
    anon: Viewer
    records: BoundaryRecords


@contextmanager
def world(http: httpx.Client, *faults: str, **kwargs: float) -> Iterator[World]:
    kwargs.setdefault("limit", 1000)
    with running_stratos(faults=faults, **kwargs) as (_, base):
        stratos = XrpcClient(base, http)
        owner = Viewer("owner", OWNER, FakeAuth(OWNER), frozenset({ENGINEERING}))
        peer = Viewer("peer", PEER, FakeAuth(PEER), frozenset({ENGINEERING}))
        outsider = Viewer("outsider", OUTSIDER, FakeAuth(OUTSIDER), frozenset({DESIGN}))
        records = write_boundary_records(
            stratos, owner, ENGINEERING, outsider=outsider, foreign_domain=DESIGN
        )
        yield World(stratos, owner, peer, outsider, Viewer.anonymous(), records)


# --- pure helpers ---------------------------------------------------------------------------


def test_random_tid_is_a_valid_unique_tid() -> None:
    tids = {random_tid() for _ in range(200)}
    assert len(tids) == 200
    assert all(is_valid_tid(t) for t in tids)
    assert random_tid(1) < random_tid(2**40)


def _resp(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json=body, headers=headers, request=httpx.Request("GET", "http://x/")
    )


def test_response_differences_ignore_volatile_headers() -> None:
    body = {"error": "RecordNotFound", "message": "Record not found"}
    a = _resp(
        404,
        body,
        {
            "Date": "Mon, 01 Jan 2024 00:00:00 GMT",
            "DPoP-Nonce": "n1",
            "RateLimit-Remaining": "3",
            "X-Request-Id": "a",
        },
    )
    b = _resp(
        404,
        body,
        {
            "Date": "Mon, 01 Jan 2024 00:00:09 GMT",
            "DPoP-Nonce": "n2",
            "RateLimit-Remaining": "2",
            "X-Request-Id": "b",
        },
    )
    assert response_differences(a, b) == ()
    assert "date" not in comparable_headers(a)


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (_resp(403, {"error": "RecordNotFound", "message": "Record not found"}), "status"),
        (_resp(404, {"error": "RecordNotFound", "message": "Record at://x not found"}), "message"),
        (
            _resp(404, {"error": "RecordNotFound", "message": "Record not found", "reason": "b"}),
            "reason",
        ),
        (
            _resp(404, {"error": "RecordNotFound", "message": "Record not found"}, {"X-B": "1"}),
            "x-b",
        ),
    ],
)
def test_response_differences_name_what_differs(second: httpx.Response, expected: str) -> None:
    first = _resp(404, {"error": "RecordNotFound", "message": "Record not found"})
    diffs = response_differences(first, second)
    assert diffs and any(expected in d for d in diffs)


def test_median_and_percentile() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 100.0
    with pytest.raises(ValueError):
        median([])
    assert relative_difference(12.0, 10.0) == pytest.approx(0.2)
    assert relative_difference(8.0, 10.0) == pytest.approx(0.2)


def test_record_boundary() -> None:
    value = {"boundary": {"values": [{"value": ENGINEERING}, {"value": DESIGN}]}}
    assert record_boundary(value) == {ENGINEERING, DESIGN}
    assert record_boundary({"text": "x"}) == frozenset()


# --- STR-BND-01 ----------------------------------------------------------------------------


def _visible(w: World) -> Failure | None:
    return check_visible_reads(
        probe_visible_reads(w.stratos, w.records, w.owner, w.peer, w.outsider)
    )


def test_bnd01_passes(http: httpx.Client) -> None:
    with world(http) as w:
        assert _visible(w) is None


def test_bnd01_fails_when_the_peer_cannot_read(http: httpx.Client) -> None:
    with world(http, "owner-only") as w:
        failure = failed(_visible(w), "STR-BND-01")
        assert "peer" in failure.message


# --- STR-BND-02 / 03 -----------------------------------------------------------------------


def _hidden(w: World) -> Failure | None:
    assert w.records.foreign is not None
    probes = probe_hidden_reads(
        w.stratos, w.records, w.outsider, w.peer, reverse=(w.owner, w.records.foreign)
    )
    return check_hidden_like_missing(probes)


def _unauth(w: World) -> Failure | None:
    return check_unauthenticated_like_missing(
        probe_hidden_reads(w.stratos, w.records, w.anon, w.peer)
    )


def test_bnd02_and_03_pass(http: httpx.Client) -> None:
    with world(http, "cursor-reveals", "blocked-hidden", "sync-no-boundary") as w:
        assert _hidden(w) is None
        assert _unauth(w) is None


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("hidden-403", "403 instead of 404"),
        ("hidden-message-names-uri", "message"),
        ("hidden-extra-header", "x-boundary"),
        ("hidden-served", "was served"),
        ("sync-hidden-403", "sync.getRecord"),
    ],
)
def test_bnd02_fails(http: httpx.Client, fault: str, words: str) -> None:
    with world(http, fault) as w:
        failure = failed(_hidden(w), "STR-BND-02")
        assert words in failure.title + failure.message
        assert len(failure.responses) == 2 or fault == "hidden-403"


def test_bnd03_fails_for_an_unauthenticated_403(http: httpx.Client) -> None:
    with world(http, "hidden-403") as w:
        failed(_unauth(w), "STR-BND-03")


def test_bnd02_control_refused(http: httpx.Client) -> None:
    with world(http, "owner-only") as w:
        failure = failed(_hidden(w), "STR-BND-02")
        assert "control" in failure.message


# --- STR-BND-04 ----------------------------------------------------------------------------


def _listing(w: World) -> Failure | None:
    return check_listing_hides(probe_listing(w.stratos, w.records, w.owner, w.outsider, w.peer))


def test_bnd04_passes(http: httpx.Client) -> None:
    with world(http, "hidden-403", "sync-no-boundary") as w:
        assert _listing(w) is None


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("blocked-hidden", "in blocked"),
        ("filter-after-limit", "page sizes reveal"),
        ("cursor-reveals", "cursor names hidden rkey"),
        ("hidden-served", "may not read"),
    ],
)
def test_bnd04_fails(http: httpx.Client, fault: str, words: str) -> None:
    with world(http, fault) as w:
        failure = failed(_listing(w), "STR-BND-04")
        assert words in failure.message


# --- STR-BND-05 ----------------------------------------------------------------------------


def _sync(w: World) -> Failure | None:
    return check_sync_record_boundary(
        probe_sync_records(w.stratos, w.records, w.owner, w.peer, [w.outsider, w.anon])
    )


def test_bnd05_passes(http: httpx.Client) -> None:
    with world(http, "blocked-hidden", "cursor-reveals") as w:
        assert _sync(w) is None


def test_bnd05_leaves_the_refusal_shape_to_bnd02(http: httpx.Client) -> None:
    with world(http, "sync-hidden-403") as w:
        assert _sync(w) is None
        failure = failed(_hidden(w), "STR-BND-02")
        assert "403 instead of 404" in failure.title


def test_bnd05_fails_when_sync_skips_the_boundary(http: httpx.Client) -> None:
    with world(http, "sync-no-boundary") as w:
        failure = failed(_sync(w), "STR-BND-05")
        assert "CAR" in failure.title


# --- STR-BND-06 ----------------------------------------------------------------------------


def _writes(w: World) -> Failure | None:
    return check_boundary_writes(probe_boundary_writes(w.stratos, w.owner, ENGINEERING, DESIGN))


def test_bnd06_passes(http: httpx.Client) -> None:
    with world(http) as w:
        probes = probe_boundary_writes(w.stratos, w.owner, ENGINEERING, DESIGN)
        assert probes.mismatch_domain == "did:web:other.example/engineering"
        assert check_boundary_writes(probes) is None


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("accept-forbidden", "was accepted"),
        ("accept-mismatch", "ServiceMismatch"),
        ("wrong-reason", "reason 'Forbidden'"),
    ],
)
def test_bnd06_fails(http: httpx.Client, fault: str, words: str) -> None:
    with world(http, fault) as w:
        failure = failed(_writes(w), "STR-BND-06")
        assert words in failure.title + failure.message


def test_bnd06_does_not_use_another_service(http: httpx.Client) -> None:
    assert not SERVICE_DID.startswith("did:web:other.example")


# --- STR-BND-07 ----------------------------------------------------------------------------


def _timing(w: World, samples: int = 200) -> TimingSamples:
    return sample_not_found_timing(
        w.stratos, w.outsider, w.records.hidden_from_outsider, samples=samples, warmup=5
    )


def test_bnd07_passes_and_summarises(http: httpx.Client) -> None:
    with world(http) as w:
        samples = _timing(w)
    assert len(samples.hidden_s) == len(samples.missing_s) == 200
    assert samples.hidden_statuses == {404: 200} and samples.missing_statuses == {404: 200}
    summary = timing_summary(samples)
    assert summary["hidden_p95_ms"] >= summary["hidden_median_ms"] > 0
    assert check_timing(samples) is None


def test_bnd07_fails_on_a_slow_hidden_path(http: httpx.Client) -> None:
    with world(http, "slow-hidden") as w:
        samples = _timing(w)
    failure = failed(check_timing(samples), "STR-BND-07")
    assert "median" in failure.message and failure.responses


def test_bnd07_needs_enough_samples() -> None:
    probe = Probe("x", _resp(404, {}))
    samples = TimingSamples(
        "outsider", (0.01,) * 10, (0.01,) * 10, {404: 10}, {404: 10}, (probe,), ()
    )
    with pytest.raises(ValueError):
        check_timing(samples)
    assert check_timing(samples, min_samples=10) is None


# --- STR-BND-08 ----------------------------------------------------------------------------


def _indexing(w: World, window_s: float = 2.0) -> Failure | None:
    probes = probe_indexing(
        w.stratos, w.stratos, w.owner, w.peer, w.outsider, ENGINEERING, window_s=window_s
    )
    if probes.lag_s is not None:
        assert 0.15 < probes.lag_s < window_s
        assert probes.outsider_watch_s >= probes.lag_s
    return check_indexing(probes)


def test_bnd08_passes(http: httpx.Client) -> None:
    with world(http) as w:
        assert _indexing(w) is None


@pytest.mark.parametrize(
    ("fault", "words"),
    [("never-index", "within the indexing window"), ("timeline-leak", "outside its boundary")],
)
def test_bnd08_fails(http: httpx.Client, fault: str, words: str) -> None:
    with world(http, fault) as w:
        failure = failed(_indexing(w, 1.0), "STR-BND-08")
        assert words in failure.title


def test_bnd08_outsider_refused_proves_nothing(http: httpx.Client) -> None:
    with world(http) as w:
        blind = Viewer("outsider", None, None)
        probes = probe_indexing(
            w.stratos, w.stratos, w.owner, w.peer, blind, ENGINEERING, window_s=1.0
        )
        failure = failed(check_indexing(probes), "STR-BND-08")
        assert "proves nothing" in failure.title
