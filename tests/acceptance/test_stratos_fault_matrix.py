"""Each deliberate breakage of the reference Stratos is caught by exactly the requirement it
violates (harness.md, "The harness checks itself").

Each case starts the embedded default with one `--fault`, runs the named requirements plus a
neighbour that must keep passing, and asserts exactly the intended ones fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from verify_runs import run_verify

pytestmark = pytest.mark.slow

# A small write window keeps the rate-limit case quick; the other cases write little.
SMALL_WINDOW = {"STRATOS_WRITE_RATE_MAX_WRITES": "25", "STRATOS_WRITE_RATE_WINDOW_MS": "3000"}


@dataclass(frozen=True)
class FaultCase:
    fault: str
    run: tuple[str, ...]
    fails: frozenset[str]


CASES = (
    FaultCase(
        "boundary-403", ("STR-BND-01", "STR-BND-02", "STR-BND-03"), frozenset({"STR-BND-02"})
    ),
    FaultCase(
        "sync-getrecord-no-boundary", ("STR-BND-05", "STR-VER-01"), frozenset({"STR-BND-05"})
    ),
    FaultCase(
        "no-empty-commit",
        ("STR-ENR-01", "STR-ENR-03", "STR-ENR-04"),
        frozenset({"STR-ENR-03", "STR-ENR-04"}),
    ),
    FaultCase("no-ratelimit-headers", ("STR-RL-02", "STR-REPO-01"), frozenset({"STR-RL-02"})),
    FaultCase(
        "cors-no-expose-dpop-nonce",
        ("CORS-01", "CORS-03", "CORS-04"),
        frozenset({"CORS-03", "CORS-04"}),
    ),
    FaultCase("accept-forged-token", ("DPOP-01", "DPOP-09"), frozenset({"DPOP-09"})),
    FaultCase("dpop-no-replay-check", ("DPOP-01", "DPOP-05"), frozenset({"DPOP-05"})),
)


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_fault_fails_exactly_its_requirement(case: FaultCase, tmp_path) -> None:
    run = run_verify(
        tmp_path,
        ["--profile", "stratos", "--fault", case.fault, "--only", *case.run],
        SMALL_WINDOW,
        timeout=300,
    )
    statuses = {rid: run.statuses()[rid] for rid in case.run}
    assert {rid for rid, s in statuses.items() if s == "fail"} == case.fails, run.output()
    assert all(statuses[rid] == "pass" for rid in case.run if rid not in case.fails), statuses
    assert run.exit_code == 1


def test_missing_exposed_nonce_is_named_as_the_browser_symptom(tmp_path) -> None:
    run = run_verify(
        tmp_path,
        ["--profile", "stratos", "--fault", "cors-no-expose-dpop-nonce", "--only", "CORS-04"],
        SMALL_WINDOW,
        timeout=300,
    )
    messages = " ".join(t["message"] for t in run.requirement("CORS-04")["tests"])
    assert "`dpop-nonce` not exposed" in messages and "401 loop" in messages, messages
