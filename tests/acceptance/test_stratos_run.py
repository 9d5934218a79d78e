"""The Stratos profile end to end on the embedded default, at the certification limits.

`atconform verify --profile stratos` starts the reference PDS, Stratos and its AppView, enrols
accounts through OAuth, and runs every check. The run must conform, and its report must carry
the figures the issue asks for: observed rate limits, indexing lag, latency medians and the
verification level.
"""

from __future__ import annotations

import pytest
from verify_runs import VerifyRun, leaked_secrets, run_verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stratos_run(tmp_path_factory: pytest.TempPathFactory) -> VerifyRun:
    # No rate-limit overrides: the reference's 300 writes / 60 s defaults.
    env = {"STRATOS_WRITE_RATE_MAX_WRITES": "300", "STRATOS_WRITE_RATE_WINDOW_MS": "60000"}
    return run_verify(tmp_path_factory.mktemp("stratos-run"), ["--profile", "stratos"], env)


def test_every_must_passes(stratos_run: VerifyRun) -> None:
    assert stratos_run.exit_code == 0, stratos_run.output()
    statuses = stratos_run.statuses()
    assert {rid.split("-")[0] for rid in statuses} == {"STR", "CORS", "DPOP", "XRPC", "CLOCK"}
    musts = {r["id"] for r in stratos_run.results["requirements"] if r["level"] == "MUST"}
    assert {rid: s for rid, s in statuses.items() if rid in musts and s != "pass"} == {}
    assert stratos_run.results["conforms"] is True


def test_report_carries_the_measured_figures(stratos_run: VerifyRun) -> None:
    rl = stratos_run.measurements("STR-RL-01")
    assert rl["observed RateLimit-Policy"] == "300;w=60"
    assert rl["writes accepted in the window"] == 300
    lag = stratos_run.measurements("STR-BND-08")["AppView indexing lag"]
    assert 0 < lag < 5000  # milliseconds, inside the reference's 5 s window
    timing = stratos_run.measurements("STR-BND-07")
    assert timing["hidden 404 latency median"] > 0 and timing["missing 404 latency median"] > 0
    for rid in ("STR-VER-01", "STR-ENR-03"):
        assert stratos_run.measurements(rid)["repo-verification-level"] == "signature-verified"
    evidence = stratos_run.requirement("STR-BND-02")["tests"][0]["evidence"]
    assert evidence, "the deciding exchanges are kept"


def test_no_secret_reaches_any_artifact(stratos_run: VerifyRun) -> None:
    assert len(stratos_run.ledger) > 100  # proofs, tokens, passwords, codes, the sync token
    assert leaked_secrets(stratos_run) == []


def test_report_renders_offline_in_chromium(stratos_run: VerifyRun, open_in_chromium) -> None:
    url = (stratos_run.run_dir / "report.html").resolve().as_uri()
    visit = open_in_chromium(url)
    assert visit.page.locator("#verdict").inner_text().startswith("conforms")
    assert visit.errors == [] and visit.requests == [url]
