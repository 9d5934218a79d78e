"""The fault-scenario checks (``conformance.checks.resilience``): each returns None on a correct
outcome and a Failure with exactly its requirement ID on a deliberately wrong one.

Results are built by hand (repositories made with the reference primitives through
``FakeStratosRepo``, then an acknowledged record left out, listed twice, a CAR tampered with, a
rev sent backwards), and the scenarios also run end to end against a small fake service over
real HTTP whose ``faults`` lose or replay the write that arrives while it is paused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from pds_fakes import tamper_block
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from stratos_fakes import (
    CAR_TYPE,
    DID,
    OWNER,
    POST,
    SERVICE_DID,
    FakeStratosRepo,
    enrollment_value,
    error,
    post,
    record_response,
    stratos_response,
)

from conformance.checks.base import Failure
from conformance.checks.resilience import (
    check_acknowledged_writes_kept,
    check_no_duplicate_writes,
    check_pds_records_survive_restart,
    check_pds_revs_after_restart,
    check_pds_write_after_restart,
    check_repo_whole_after_outage,
    check_revs_increase_across_burst,
    check_stratos_records_survive_restart,
    check_stratos_revs_after_restart,
    check_stratos_write_after_restart,
)
from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient
from conformance.localserver import serve_in_thread
from conformance.redact import Redactor
from conformance.scenarios.base import Probe
from conformance.scenarios.resilience import (
    PDS_COLLECTION,
    BurstPlan,
    BurstResult,
    BurstWrite,
    MarkedWrite,
    Outcome,
    PauseWindow,
    RestartResult,
    Restarts,
    ServiceSurvival,
    SignedIn,
    pause_during_burst,
    restart_keeps_data,
)
from conformance.scenarios.stratos_repo import StratosService
from reference_impl.primitives.keys import generate_signing_key
from reference_impl.primitives.tid import TidClock

PREFIX = "atconform burst test"
SERVICE_KEY = generate_signing_key("p256")
REVS = ("3kaaaaaaaaaa2", "3kaaaaaaaaab2", "3kaaaaaaaaac2", "3kaaaaaaaaad2")

BurstCheck = Callable[[BurstResult], Failure | None]
BURST_CHECKS: tuple[BurstCheck, ...] = (
    check_acknowledged_writes_kept,
    check_no_duplicate_writes,
    check_repo_whole_after_outage,
    check_revs_increase_across_burst,
)
RestartCheck = Callable[[RestartResult], Failure | None]
RESTART_CHECKS: tuple[RestartCheck, ...] = (
    check_stratos_records_survive_restart,
    check_pds_records_survive_restart,
    check_stratos_write_after_restart,
    check_pds_write_after_restart,
    check_stratos_revs_after_restart,
    check_pds_revs_after_restart,
)


def ok(body: Any, case: str = "probe") -> Probe:
    return Probe(case, stratos_response(200, json_body=body))


def failed(failure: Failure | None, requirement: str) -> Failure:
    assert failure is not None, "the check did not notice"
    assert failure.requirement == requirement
    assert failure.title and failure.message
    return failure


def failing(result: Any, checks: Sequence[Callable[[Any], Failure | None]]) -> dict[str, str]:
    """check name -> requirement of every check that failed."""
    return {
        check.__name__: failure.requirement
        for check in checks
        if (failure := check(result)) is not None
    }


# --- hand-built bursts ------------------------------------------------------------------------


@dataclass
class Burst:
    """A burst as it really happened to ``fake``: each write one commit, in index order."""

    fake: FakeStratosRepo = field(default_factory=FakeStratosRepo)
    writes: list[BurstWrite] = field(default_factory=list)
    rkeys: TidClock = field(default_factory=TidClock)
    texts: dict[str, str] = field(default_factory=dict)  # rkey -> marker

    def __post_init__(self) -> None:
        self.fake.init()

    def ack(self, writer: int, sent: float, done: float, *, store: bool = True) -> BurstWrite:
        index = len(self.writes)
        marker = f"{PREFIX} #{index + 1:03d}"
        rkey = self.rkeys.next()
        commit = self.fake.write({rkey: post(marker)})
        self.texts[rkey] = marker
        body = {
            "uri": f"at://{DID}/{POST}/{rkey}",
            "cid": self.fake.cid(rkey),
            "commit": {"cid": commit.commit_cid.encode(), "rev": commit.rev},
        }
        write = BurstWrite(index, writer, marker, sent, done, Outcome.ACKNOWLEDGED, ok(body))
        self.writes.append(write)
        return write

    def unknown(self, writer: int, sent: float, done: float) -> BurstWrite:
        index = len(self.writes)
        write = BurstWrite(
            index,
            writer,
            f"{PREFIX} #{index + 1:03d}",
            sent,
            done,
            Outcome.UNKNOWN,
            error="ReadTimeout: timed out",
        )
        self.writes.append(write)
        return write

    def listing(self, *, leave_out: Sequence[str] = (), extra: Sequence[Any] = ()) -> Probe:
        records = [
            {"uri": f"at://{DID}/{POST}/{rkey}", "cid": self.fake.cid(rkey), "value": post(text)}
            for rkey, text in self.texts.items()
            if text not in leave_out
        ]
        return ok({"records": [*records, *extra]}, "listRecords after the burst")

    def result(
        self, *, listed: Sequence[Probe] | None = None, export: Probe | None = None
    ) -> BurstResult:
        return BurstResult(
            DID,
            POST,
            PREFIX,
            tuple(self.writes),
            PauseWindow(2.0, 4.5),
            tuple(listed) if listed is not None else (self.listing(),),
            export or Probe("getRepo", stratos_response(200, content=self.fake.export())),
            Probe(
                "enrollment record",
                record_response(DID, enrollment_value(DID, self.fake.key, SERVICE_KEY)),
            ),
        )


def sequential_burst(count: int = 6, writers: int = 2) -> Burst:
    """Writes one after another: each acknowledged before the next is sent."""
    burst = Burst()
    for i in range(count):
        burst.ack(i % writers, float(i), i + 0.5)
    return burst


def test_burst_checks_pass() -> None:
    burst = sequential_burst()
    assert failing(burst.result(), BURST_CHECKS) == {}


def test_unknown_writes_may_be_stored_or_not() -> None:
    burst = sequential_burst()
    burst.unknown(0, 10.0, 25.0)
    assert failing(burst.result(), BURST_CHECKS) == {}
    # Stored after all (the answer was lost, not the write): still fine.
    unknown = burst.writes[-1]
    extra = {
        "uri": f"at://{DID}/{POST}/3kzzzzzzzzzz2",
        "cid": "bafyx",
        "value": post(unknown.marker),
    }
    listed = burst.listing(extra=[extra])
    assert check_acknowledged_writes_kept(burst.result(listed=[listed])) is None
    assert check_no_duplicate_writes(burst.result(listed=[listed])) is None


def test_lost_write() -> None:
    burst = sequential_burst()
    lost = burst.writes[3]
    result = burst.result(listed=[burst.listing(leave_out=[lost.marker])])
    failure = failed(check_acknowledged_writes_kept(result), "STR-REPO-01")
    assert "1 of 6 acknowledged writes are gone" in failure.message
    assert lost.marker in failure.message
    assert lost.probe is not None and lost.probe.response in failure.responses


def test_acknowledged_write_listed_with_another_cid() -> None:
    burst = sequential_burst()
    changed = burst.writes[1]
    other = {"uri": changed.uri, "cid": "bafyother", "value": post(changed.marker)}
    listed = burst.listing(leave_out=[changed.marker], extra=[other])
    failure = failed(check_acknowledged_writes_kept(burst.result(listed=[listed])), "STR-REPO-01")
    assert "bafyother" in failure.message


def test_nothing_acknowledged_proves_nothing() -> None:
    burst = Burst()
    burst.unknown(0, 0.0, 15.0)
    failed(check_acknowledged_writes_kept(burst.result()), "STR-REPO-01")


def test_listing_refused() -> None:
    burst = sequential_burst()
    refused = Probe("listRecords after the burst", error(500, "InternalServerError"))
    result = burst.result(listed=[refused])
    failed(check_acknowledged_writes_kept(result), "STR-REPO-01")
    failed(check_no_duplicate_writes(result), "STR-REPO-01")


@pytest.mark.parametrize("outcome", ["acknowledged", "unknown"])
def test_duplicate_write(outcome: str) -> None:
    burst = sequential_burst()
    twice = burst.writes[2] if outcome == "acknowledged" else burst.unknown(1, 9.0, 24.0)
    copies = [
        {"uri": f"at://{DID}/{POST}/3kzzzzzzzzz{n}2", "cid": "bafyx", "value": post(twice.marker)}
        for n in range(2 if outcome == "unknown" else 1)
    ]
    result = burst.result(listed=[burst.listing(extra=copies)])
    failure = failed(check_no_duplicate_writes(result), "STR-REPO-01")
    assert twice.marker in failure.message and "2 times" in failure.message


def test_repo_that_does_not_verify() -> None:
    burst = sequential_burst()
    rkey = next(iter(burst.texts))
    tampered = tamper_block(burst.fake.export(), burst.fake.cids[f"{POST}/{rkey}"])
    result = burst.result(export=Probe("getRepo", stratos_response(200, content=tampered)))
    failure = failed(check_repo_whole_after_outage(result), "STR-VER-02")
    assert failure.message.startswith("after the pause mid-burst")


def test_repo_missing_acknowledged_records() -> None:
    burst = sequential_burst(3)
    stale = burst.fake.export()  # the repo before the last writes
    burst.ack(0, 10.0, 10.5)
    burst.ack(1, 11.0, 11.5)
    result = burst.result(export=Probe("getRepo", stratos_response(200, content=stale)))
    assert "lacks the record" in failed(check_repo_whole_after_outage(result), "STR-VER-02").message


@pytest.mark.parametrize(
    "export",
    [error(500, "InternalServerError"), stratos_response(200, json_body={"car": "no"})],
    ids=["refused", "not-a-car"],
)
def test_repo_export_not_served(export: httpx.Response) -> None:
    result = sequential_burst().result(export=Probe("getRepo", export))
    failed(check_repo_whole_after_outage(result), "STR-VER-02")


def test_repo_signed_by_another_key() -> None:
    burst = sequential_burst()
    other = record_response(DID, enrollment_value(DID, generate_signing_key("p256"), SERVICE_KEY))
    result = replace(burst.result(), enrollment_record=Probe("enrollment record", other))
    failed(check_repo_whole_after_outage(result), "STR-VER-02")


# --- revs -------------------------------------------------------------------------------------


def rev_write(
    index: int, writer: int, sent: float, done: float, rev: str, commit: str = ""
) -> BurstWrite:
    body = {
        "uri": f"at://{DID}/{POST}/3kr{index:010d}",
        "cid": f"bafyrecord{index}",
        "commit": {"cid": commit or f"bafycommit{rev}", "rev": rev},
    }
    marker = f"{PREFIX} #{index + 1:03d}"
    return BurstWrite(index, writer, marker, sent, done, Outcome.ACKNOWLEDGED, ok(body))


def rev_burst(*writes: BurstWrite) -> BurstResult:
    return replace(Burst().result(), writes=writes)


def test_concurrent_writes_may_commit_in_either_order() -> None:
    # Both in flight at once: the service may commit either first.
    overlapping = rev_burst(rev_write(0, 0, 0.0, 2.0, REVS[1]), rev_write(1, 1, 0.5, 1.0, REVS[0]))
    assert check_revs_increase_across_burst(overlapping) is None
    # One commit answering two writes (a group commit) is one rev, not two.
    shared = rev_burst(
        rev_write(0, 0, 0.0, 1.0, REVS[0], "bafyc"), rev_write(1, 1, 0.0, 1.0, REVS[0], "bafyc")
    )
    assert check_revs_increase_across_burst(shared) is None


def test_rev_going_backwards_within_a_writer() -> None:
    result = rev_burst(rev_write(0, 0, 0.0, 1.0, REVS[2]), rev_write(1, 0, 1.0, 2.0, REVS[1]))
    failed(check_revs_increase_across_burst(result), "STR-VER-03")


def test_rev_going_backwards_across_writers() -> None:
    # Writer 2 sent its write after writer 1's was acknowledged, yet got the older rev.
    result = rev_burst(
        rev_write(0, 0, 0.0, 1.0, REVS[0]),
        rev_write(1, 0, 1.0, 2.0, REVS[3]),
        rev_write(2, 1, 2.5, 3.0, REVS[2]),
    )
    failure = failed(check_revs_increase_across_burst(result), "STR-VER-03")
    assert REVS[2] in failure.message and REVS[3] in failure.message
    assert "acknowledged before it was sent" in failure.message


def test_two_commits_with_one_rev() -> None:
    result = rev_burst(
        rev_write(0, 0, 0.0, 1.0, REVS[0], "bafyc1"), rev_write(1, 1, 0.0, 1.0, REVS[0], "bafyc2")
    )
    assert "share the rev" in failed(check_revs_increase_across_burst(result), "STR-VER-03").message


def test_rev_not_a_tid() -> None:
    failed(
        check_revs_increase_across_burst(rev_burst(rev_write(0, 0, 0, 1, "12345"))), "STR-VER-03"
    )


# --- hand-built restarts ----------------------------------------------------------------------


def marked(
    index: int,
    rev: str,
    *,
    cid: str | None = None,
    read: httpx.Response | None = None,
    collection: str = POST,
) -> MarkedWrite:
    marker = f"atconform restart #{index}"
    uri = f"at://{DID}/{collection}/3kw{index:010d}"
    body = {"uri": uri, "cid": f"bafyrec{index}", "commit": {"cid": f"bafyc{rev}", "rev": rev}}
    answer = read or stratos_response(
        200, json_body={"uri": uri, "cid": cid or f"bafyrec{index}", "value": post(marker)}
    )
    return MarkedWrite(
        marker, ok(body, f"createRecord #{index}"), Probe(f"getRecord #{index}", answer)
    )


def survival(
    service: str, before: Sequence[MarkedWrite], after_rev: str = REVS[3]
) -> ServiceSurvival:
    after = {
        "uri": f"at://{DID}/{POST}/3kafter",
        "cid": "bafyafter",
        "commit": {"cid": "bafycafter", "rev": after_rev},
    }
    return ServiceSurvival(service, POST, tuple(before), ok(after, "createRecord after"))


def restart(
    stratos: ServiceSurvival | None = None, pds: ServiceSurvival | None = None
) -> RestartResult:
    good = [marked(1, REVS[0]), marked(2, REVS[1])]
    return RestartResult(
        DID,
        ("kill -9 Stratos", "restart Stratos", "kill -9 the PDS", "restart the PDS"),
        stratos or survival("Stratos", good),
        pds or survival("the PDS", good),
    )


def test_restart_checks_pass() -> None:
    assert failing(restart(), RESTART_CHECKS) == {}


@pytest.mark.parametrize(
    "broken",
    [
        marked(2, REVS[1], read=error(400, "RecordNotFound")),
        marked(2, REVS[1], cid="bafyother"),
        marked(
            2,
            REVS[1],
            read=stratos_response(200, json_body={"cid": "bafyrec2", "value": post("x")}),
        ),
    ],
    ids=["gone", "other-cid", "other-content"],
)
def test_record_lost_across_restart(broken: MarkedWrite) -> None:
    side = survival("x", [marked(1, REVS[0]), broken])
    assert failing(restart(stratos=replace(side, service="Stratos")), RESTART_CHECKS) == {
        "check_stratos_records_survive_restart": "STR-REPO-01"
    }
    assert failing(restart(pds=replace(side, service="the PDS")), RESTART_CHECKS) == {
        "check_pds_records_survive_restart": "PDS-05"
    }


def test_write_refused_before_the_restart() -> None:
    refused = MarkedWrite("m", Probe("createRecord #1", error(500, "InternalServerError")))
    result = restart(stratos=survival("Stratos", [refused]))
    failed(check_stratos_records_survive_restart(result), "STR-REPO-01")


def test_no_write_after_restart() -> None:
    side = replace(
        survival("x", [marked(1, REVS[0])]),
        after=Probe("createRecord after", error(503, "Unavailable")),
    )
    failed(check_stratos_write_after_restart(restart(stratos=side)), "STR-REPO-01")
    failed(check_pds_write_after_restart(restart(pds=side)), "PDS-05")


def test_rev_goes_back_after_restart() -> None:
    # The restarted service reused an old clock: its first commit is older than the last one.
    side = survival("x", [marked(1, REVS[1]), marked(2, REVS[2])], after_rev=REVS[0])
    failed(check_stratos_revs_after_restart(restart(stratos=side)), "STR-VER-03")
    failed(check_pds_revs_after_restart(restart(pds=side)), "PDS-05")


# --- the scenarios end to end against a fake service ------------------------------------------


@dataclass
class FakeService:
    """Stratos (and, for the restart scenario, a PDS) in one fake: createRecord commits to a
    real repository, listRecords/getRecord/getRepo read it. While ``paused`` every request
    waits. Faults: ``lose-paused`` acknowledges the first write that arrived while paused
    without storing it; ``replay-paused`` stores it twice; ``forget`` loses everything on
    ``restart()``."""

    faults: frozenset[str] = frozenset()
    repo: FakeStratosRepo = field(default_factory=FakeStratosRepo)
    rkeys: TidClock = field(default_factory=TidClock)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # "collection/rkey" -> value
    running: threading.Event = field(default_factory=threading.Event)
    arrived_paused: int = 0

    def __post_init__(self) -> None:
        self.repo.init()
        self.running.set()

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def restart(self) -> None:
        if "forget" in self.faults:
            self.repo, self.values = FakeStratosRepo(), {}
            self.repo.init()

    def store(self, collection: str, value: dict[str, Any]) -> tuple[str, Any]:
        rkey = self.rkeys.next()
        commit = self.repo.write({rkey: value}, collection)
        self.values[f"{collection}/{rkey}"] = value
        return rkey, commit

    async def create_record(self, request: Request) -> Response:
        paused = not self.running.is_set()
        # Wait (bounded) for the resume without blocking the event loop.
        await asyncio.to_thread(self.running.wait, 30)
        body = await request.json()
        collection, value = body["collection"], body["record"]
        first_paused = paused and self.arrived_paused == 0
        self.arrived_paused += paused
        rkey, commit = self.store(collection, value)
        answer = {
            "uri": f"at://{DID}/{collection}/{rkey}",
            "cid": self.repo.cid(rkey, collection),
            "commit": {"cid": commit.commit_cid.encode(), "rev": commit.rev},
        }
        if first_paused and "lose-paused" in self.faults:
            del self.values[f"{collection}/{rkey}"]
        if first_paused and "replay-paused" in self.faults:
            self.store(collection, value)
        return JSONResponse(answer)

    async def list_records(self, request: Request) -> Response:
        collection = request.query_params["collection"]
        records = [
            {
                "uri": f"at://{DID}/{key}",
                "cid": self.repo.cid(key.split("/")[1], collection),
                "value": value,
            }
            for key, value in sorted(self.values.items())
            if key.startswith(f"{collection}/")
        ]
        return JSONResponse({"records": records})

    async def get_record(self, request: Request) -> Response:
        collection, rkey = request.query_params["collection"], request.query_params["rkey"]
        if rkey == SERVICE_DID:  # the enrollment record, from "the PDS"
            enrollment = enrollment_value(DID, self.repo.key, SERVICE_KEY)
            return JSONResponse({"uri": "at://x", "cid": "bafyx", "value": enrollment})
        value = self.values.get(f"{collection}/{rkey}")
        if value is None:
            return JSONResponse({"error": "RecordNotFound", "message": "no"}, status_code=400)
        uri = f"at://{DID}/{collection}/{rkey}"
        return JSONResponse({"uri": uri, "cid": self.repo.cid(rkey, collection), "value": value})

    async def get_repo(self, request: Request) -> Response:
        return Response(self.repo.export(), media_type=CAR_TYPE)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/xrpc/com.atproto.repo.createRecord", self.create_record, methods=["POST"]),
                Route("/xrpc/com.atproto.repo.listRecords", self.list_records),
                Route("/xrpc/com.atproto.repo.getRecord", self.get_record),
                Route("/xrpc/zone.stratos.sync.getRepo", self.get_repo),
            ]
        )


@contextmanager
def fake_service(*faults: str) -> Iterator[tuple[FakeService, StratosService, PdsClient]]:
    fake = FakeService(frozenset(faults))
    try:
        with serve_in_thread(fake.app()) as url, httpx.Client(timeout=10.0) as http:
            redactor = Redactor(None)
            yield (
                fake,
                StratosService.of(XrpcClient(url, http), redactor),
                PdsClient(XrpcClient(url, http), redactor),
            )
    finally:
        fake.resume()  # never leave a handler waiting


SMALL = BurstPlan(
    writers=3, max_writes=12, max_seconds=30.0, write_timeout_s=10.0, pause_after=3, pause_s=0.3
)


def burst_against(*faults: str) -> BurstResult:
    with fake_service(*faults) as (fake, stratos, pds):
        return pause_during_burst(
            stratos, pds, SERVICE_DID, OWNER, pause=fake.pause, resume=fake.resume, plan=SMALL
        )


def test_burst_scenario_against_a_correct_fake() -> None:
    result = burst_against()
    assert len(result.writes) == SMALL.max_writes
    assert len(result.acknowledged) == SMALL.max_writes
    assert result.pause is not None and result.acknowledged_before_pause
    assert result.sent_while_paused, "the held writer sends while the service is paused"
    assert len({w.marker for w in result.writes}) == len(result.writes)
    assert failing(result, BURST_CHECKS) == {}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("lose-paused", {"check_acknowledged_writes_kept": "STR-REPO-01"}),
        ("replay-paused", {"check_no_duplicate_writes": "STR-REPO-01"}),
    ],
)
def test_burst_scenario_against_a_faulty_fake(fault: str, expected: dict[str, str]) -> None:
    result = burst_against(fault)
    assert failing(result, [check_acknowledged_writes_kept, check_no_duplicate_writes]) == expected


def test_burst_records_writes_without_an_answer() -> None:
    plan = replace(SMALL, write_timeout_s=0.5, pause_s=1.5)
    with fake_service() as (fake, stratos, pds):
        result = pause_during_burst(
            stratos, pds, SERVICE_DID, OWNER, pause=fake.pause, resume=fake.resume, plan=plan
        )
    unknown = result.with_outcome(Outcome.UNKNOWN)
    assert unknown and all("Timeout" in w.error and w.probe is None for w in unknown)
    # The service stored them after the client gave up: not lost, not duplicated.
    assert check_acknowledged_writes_kept(result) is None
    assert check_no_duplicate_writes(result) is None


def test_burst_plan_is_bounded() -> None:
    for wrong in ({"writers": 1}, {"max_writes": 10_000}, {"pause_s": 0}, {"pause_after": 48}):
        with pytest.raises(ValueError):
            BurstPlan(**wrong)


def restart_against(*faults: str) -> RestartResult:
    def nothing() -> None:
        """A kill the fake cannot feel: what it keeps is decided by its restart."""

    with fake_service(*faults) as (fake, stratos, pds):
        return restart_keeps_data(
            stratos,
            pds,
            lambda: SignedIn(OWNER, OWNER.auth()),
            Restarts(nothing, fake.restart, nothing, fake.restart),
            records=3,
        )


def test_restart_scenario_against_a_correct_fake() -> None:
    result = restart_against()
    assert result.outage == (
        "kill -9 Stratos",
        "restart Stratos",
        "kill -9 the PDS",
        "restart the PDS",
    )
    assert [m.read is not None for m in result.pds.before] == [True] * 3
    assert result.pds.collection == PDS_COLLECTION
    assert failing(result, RESTART_CHECKS) == {}


def test_restart_scenario_against_a_forgetful_fake() -> None:
    assert set(failing(restart_against("forget"), RESTART_CHECKS)) >= {
        "check_stratos_records_survive_restart",
        "check_pds_records_survive_restart",
    }
