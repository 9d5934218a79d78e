"""STR-RL-01..06: the per-DID write limit.

STR-RL-01..05 judge one run of ``conformance.scenarios.ratelimit.run_rate_limit`` over the owner,
peer and outsider accounts (one whose window is fresh is driven to its limit, another must not
notice): it reads the limit from ``RateLimit-Policy``, waits for a fresh window only if no
account has one, spends exactly the budget, checks the 429, reads and another DID's writes
meanwhile, and waits for the advertised reset — with a progress bar for the waits. The run
happens once, in whichever of these tests comes first (so ``--only STR-RL-03`` still works),
and the others judge the same run. With the reference's default 300 writes per 60 s it takes
one window (two when no account is idle).

STR-RL-06 imports a repository of more than 300 records into the ``spare`` account (enrolled
afresh, the posts written to and afterwards deleted from its PDS repo) and leaves the spare
enrolled again with an empty repo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.ratelimit import (
    check_import_over_limit,
    check_other_did_unaffected,
    check_rate_limit_enforced,
    check_rate_limit_headers,
    check_reads_not_counted,
    check_writes_resume,
)
from conformance.clients.oauth import OAuthClient
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import EnrollmentAttempt, StratosEnroller
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import Measure, PhaseProgress, disabled
from conformance.scenarios.base import describe_response, is_success
from conformance.scenarios.ratelimit import (
    IMPORT_RECORDS,
    SPEC_LIMIT,
    SPEC_WINDOW_S,
    ImportProbes,
    ProgressFactory,
    RateLimitPolicy,
    RateLimitRun,
    delete_pds_posts,
    ensure_empty_repo,
    latencies,
    probe_import_over_limit,
    run_rate_limit,
    write_pds_posts,
)
from conformance.scenarios.stratos_access import Viewer, median
from conformance.target import TargetProfile

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.stratos.conftest import StratosAccount, StratosRoles


class OnceRun:
    """The rate-limit run, made by the first test that asks for it (with that test's progress
    bar) and shared by the others; a setup error is raised again for each of them."""

    def __init__(self, make: Callable[[ProgressFactory], RateLimitRun]) -> None:
        self._make = make
        self._run: RateLimitRun | None = None
        self._error: BaseException | None = None

    def get(self, progress: PhaseProgress) -> RateLimitRun:
        if self._error is not None:
            raise RuntimeError(f"the rate-limit run failed: {self._error}") from self._error
        if self._run is None:
            try:
                self._run = self._make(progress)
            except Exception as exc:
                self._error = exc
                raise
        return self._run


def _fresh_viewer(role: str, account: StratosAccount, oauth: OAuthClient, pds_url: str) -> Viewer:
    session = oauth.login(pds_url, account.handle, account.password)
    return Viewer(role, account.did, session.auth())


@pytest.fixture(scope="module")
def rate_limit(
    stratos: XrpcClient,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    oauth_client: OAuthClient,
    pds_url: str,
    target: TargetProfile,
) -> OnceRun:
    candidates = [
        _fresh_viewer(role, account, oauth_client, pds_url)
        for role in ("owner", "peer", "outsider")
        if (account := roles.get(role)) is not None
    ]
    if len(candidates) < 2:
        disabled("the profile has fewer than two enrollable accounts (owner, peer, outsider)")
    promise = target.stratos.rate_limit
    promised = (
        RateLimitPolicy(promise.writes, float(promise.window_s)) if promise is not None else None
    )

    def make(progress: ProgressFactory) -> RateLimitRun:
        return run_rate_limit(stratos, candidates, promised=promised, progress=progress)

    return OnceRun(make)


def _needs_refusal(run: RateLimitRun) -> None:
    if run.refused is None:
        raise RuntimeError(
            "not judged: the service never refused a write, so nothing was limited (see STR-RL-01)"
        )


# --- STR-RL-01 ------------------------------------------------------------------------------------


@pytest.mark.requirement("STR-RL-01")
def test_write_limit_enforced(
    rate_limit: OnceRun, progress: PhaseProgress, measure: Measure
) -> None:
    run = rate_limit.get(progress)
    observed = str(run.observed) if run.observed is not None else "none advertised"
    measure("observed RateLimit-Policy", observed, note=f"limit taken from {run.policy_source}")
    measure("write limit", run.limit, "writes", note=f"per DID and window ({run.policy_source})")
    measure("rate-limit window", run.window_s, "s")
    if run.promised is not None:
        same = run.observed is not None and (run.observed.quota, run.observed.window_s) == (
            run.promised.quota,
            run.promised.window_s,
        )
        measure(
            "promised rate limit",
            str(run.promised),
            note="as observed" if same else f"differs from the observed {observed}",
        )
    certification = (run.limit, run.window_s) == (SPEC_LIMIT, SPEC_WINDOW_S)
    measure(
        "certification limits (300;w=60)",
        "yes" if certification else "no",
        note="a certification run requires the 300 writes / 60 s defaults",
    )
    measure("writes accepted in the window", run.accepted_ops, "writes")
    measure("waited for a fresh window", round(run.fresh_wait_s, 1), "s")
    measure("time to spend the budget", round(run.spend_s, 2), "s")
    require(check_rate_limit_enforced(run))


# --- STR-RL-02 ------------------------------------------------------------------------------------


@pytest.mark.requirement("STR-RL-02")
def test_rate_limit_headers_on_every_write(
    rate_limit: OnceRun, progress: PhaseProgress, measure: Measure
) -> None:
    run = rate_limit.get(progress)
    measure("write responses checked", len(run.all_writes), "responses")
    if run.refused is not None:
        measure("429 RateLimit fields", run.refused.headers.describe())
    require(check_rate_limit_headers(run))


# --- STR-RL-03 ------------------------------------------------------------------------------------


@pytest.mark.requirement("STR-RL-03")
def test_other_did_unaffected(
    rate_limit: OnceRun, progress: PhaseProgress, measure: Measure
) -> None:
    run = rate_limit.get(progress)
    _needs_refusal(run)
    if run.other_baseline and run.other_limited:
        measure(
            f"{run.other} write latency before",
            round(median(latencies(run.other_baseline)) * 1000, 1),
            "ms",
            note=f"median of {len(run.other_baseline)} writes",
        )
        measure(
            f"{run.other} write latency while {run.limited} is limited",
            round(median(latencies(run.other_limited)) * 1000, 1),
            "ms",
            note=f"median of {len(run.other_limited)} writes",
        )
    require(check_other_did_unaffected(run))


# --- STR-RL-04 ------------------------------------------------------------------------------------


@pytest.mark.requirement("STR-RL-04")
def test_writes_resume_after_the_reset(
    rate_limit: OnceRun, progress: PhaseProgress, measure: Measure
) -> None:
    run = rate_limit.get(progress)
    _needs_refusal(run)
    if run.advertised_reset_s is not None:
        measure("advertised reset at the 429", run.advertised_reset_s, "s")
    measure("waited for the reset", round(run.reset_wait_s, 1), "s")
    measure("writes tried after the reset", len(run.after_reset), "writes")
    require(check_writes_resume(run))


# --- STR-RL-05 ------------------------------------------------------------------------------------


@pytest.mark.requirement("STR-RL-05")
def test_reads_not_counted(rate_limit: OnceRun, progress: PhaseProgress, measure: Measure) -> None:
    run = rate_limit.get(progress)
    measure(
        "reads sent",
        len(run.reads_midway) + len(run.reads_limited),
        "reads",
        note=f"{len(run.reads_midway)} while spending, {len(run.reads_limited)} while limited",
    )
    require(check_reads_not_counted(run))


# --- STR-RL-06 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(
    stratos: XrpcClient,
    stratos_url: str,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    enroller: StratosEnroller,
    oauth_client: OAuthClient,
    pds: PdsClient,
    pds_url: str,
    target: TargetProfile,
) -> Iterator[ImportProbes]:
    spare = roles["spare"]
    viewer = _fresh_viewer("spare", spare, oauth_client, pds_url)
    promise = target.stratos.rate_limit
    wanted = max(IMPORT_RECORDS, (promise.writes + 10) if promise is not None else 0)

    def enrol() -> httpx.Response:
        attempt = enroller.enroll(stratos_url, spare.handle, spare.password, spare.boundaries)
        if not attempt.enrolled:
            raise RuntimeError(
                f"could not enrol the spare account: {describe_response(attempt.final)}"
            )
        return attempt.final

    def enrol_afresh() -> None:
        viewer_auth = viewer.auth
        stratos.procedure("zone.stratos.enrollment.unenroll", {}, auth=viewer_auth)
        enrol()

    setup = ensure_empty_repo(stratos, viewer, enrol)
    session = pds.login(spare.handle, spare.password)
    writes, rkeys = write_pds_posts(pds, session, spare.did, wanted)
    try:
        refused = [p for p in writes if not is_success(p.response)]
        if refused:
            raise RuntimeError(
                f"could not write the posts to the PDS: {refused[0].case}: "
                f"{describe_response(refused[0].response)}"
            )
        yield probe_import_over_limit(stratos, pds, viewer, (*setup, *writes), wanted=wanted)
    finally:
        delete_pds_posts(pds, session, spare.did, rkeys)
        enrol_afresh()


@pytest.mark.requirement("STR-RL-06")
def test_import_of_more_than_300_records(imported: ImportProbes, measure: Measure) -> None:
    if not is_success(imported.export.response):
        raise RuntimeError(f"the PDS export failed: {describe_response(imported.export.response)}")
    if imported.car_records is None or imported.car_records <= SPEC_LIMIT:
        raise RuntimeError(
            f"the PDS export holds {imported.car_records} records "
            f"({imported.car_problem or 'fewer than needed'})"
        )
    measure("records in the imported CAR", imported.car_records, "records")
    if imported.imported is not None:
        elapsed = imported.imported.response.elapsed.total_seconds()
        measure("importRepo duration", round(elapsed, 2), "s")
    require(check_import_over_limit(imported))
