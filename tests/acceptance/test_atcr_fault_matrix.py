"""Each deliberate breakage of the reference ATCR is caught by exactly the requirement it
violates (issue 4 acceptance; harness.md, "The harness checks itself").

Each case starts the embedded default with one `--fault`, runs the named requirements plus a
neighbour that must keep passing, and asserts exactly the intended ones fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from verify_runs import run_verify

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class FaultCase:
    fault: str
    run: tuple[str, ...]
    fails: frozenset[str]


CASES = (
    FaultCase(
        "tag-cached-not-from-pds", ("ATCR-REC-01", "ATCR-REC-03"), frozenset({"ATCR-REC-03"})
    ),
    FaultCase(
        "no-www-authenticate-realm", ("ATCR-AUTH-01", "ATCR-AUTH-02"), frozenset({"ATCR-AUTH-01"})
    ),
    FaultCase(
        "push-other-namespace", ("ATCR-AUTH-02", "ATCR-AUTH-03"), frozenset({"ATCR-AUTH-03"})
    ),
    FaultCase(
        "client-metadata-404", ("ATCR-OAUTH-01", "ATCR-AUTH-01"), frozenset({"ATCR-OAUTH-01"})
    ),
    FaultCase("no-digest-verify", ("OCI-code-4", "OCI-end-4b"), frozenset({"OCI-code-4"})),
    FaultCase("hold-outage-hangs", ("ATCR-HOLD-04", "ATCR-HOLD-01"), frozenset({"ATCR-HOLD-04"})),
)


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_fault_fails_exactly_its_requirement(case: FaultCase, tmp_path) -> None:
    run = run_verify(
        tmp_path,
        ["--profile", "atcr", "--fault", case.fault, "--only", *case.run],
        timeout=300,
    )
    statuses = {rid: run.statuses()[rid] for rid in case.run}
    assert {rid for rid, s in statuses.items() if s == "fail"} == case.fails, run.output()
    assert all(statuses[rid] == "pass" for rid in case.run if rid not in case.fails), statuses
    assert run.exit_code == 1
