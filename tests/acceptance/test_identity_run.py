"""The identity profile end to end: `atconform verify --profile identity` on the embedded default.

One real run (the reference PDS started as a process, accounts provisioned, OAuth logins, every
identity check) whose artifacts the tests below inspect: the verdict (H-CLI-01/02), secrets
(H-REP-01) and the HTML report in a real browser (H-REP-02).
"""

from __future__ import annotations

import base64
import json
import socket
from collections import Counter
from urllib.parse import urlsplit

import pytest
from verify_runs import VerifyRun, leaked_secrets, run_verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory: pytest.TempPathFactory) -> VerifyRun:
    return run_verify(tmp_path_factory.mktemp("identity-run"), ["--profile", "identity"])


def test_exit_zero_and_every_must_passes(identity_run: VerifyRun) -> None:
    assert identity_run.exit_code == 0, identity_run.output()
    statuses = identity_run.statuses()
    assert {rid.split("-")[0] for rid in statuses} == {"XRPC", "PDS", "DPOP", "CLOCK"}
    musts = {r["id"] for r in identity_run.results["requirements"] if r["level"] == "MUST"}
    assert {rid: s for rid, s in statuses.items() if rid in musts and s != "pass"} == {}
    assert identity_run.results["conforms"] is True
    report = identity_run.run_dir / "report.html"
    assert identity_run.stdout.rstrip().endswith(f"report: {report}")


def test_report_shows_clock_offset_and_evidence(identity_run: VerifyRun) -> None:
    assert any("clock offset" in name for name in identity_run.measurements("CLOCK-01"))
    dpop = identity_run.requirement("DPOP-01")
    assert dpop["tests"] and dpop["tests"][0]["evidence"], "the deciding exchanges are kept"


def test_nothing_is_left_running(identity_run: VerifyRun) -> None:
    pds = urlsplit(identity_run.results["target"]["identity"]["pds"])
    with socket.socket() as sock:
        sock.settimeout(1)
        assert sock.connect_ex((pds.hostname, pds.port)) != 0, "the embedded PDS is still listening"


def _kind(secret: str) -> str:
    if secret.startswith("eyJ") and secret.count(".") == 2:
        header = json.loads(base64.urlsafe_b64decode(secret.split(".")[0] + "=="))
        return str(header.get("typ"))
    return "opaque"


def test_no_secret_reaches_any_artifact(identity_run: VerifyRun) -> None:
    kinds = Counter(_kind(s) for s in identity_run.ledger)
    # The run really used each kind of secret: DPoP proofs, OAuth and session access tokens,
    # refresh tokens, and opaque ones (passwords, codes, PKCE verifiers, OAuth refresh tokens).
    assert kinds["dpop+jwt"] >= 50 and kinds["at+jwt"] >= 3 and kinds["refresh+jwt"] >= 1
    assert kinds["opaque"] >= 5
    names = {p.name for p in identity_run.run_dir.rglob("*") if p.is_file()}
    assert {
        "report.html",
        "results.json",
        "junit.xml",
        "SHA256SUMS",
        "exchanges.jsonl",
        "pds.log",
    } <= names
    assert (identity_run.run_dir / "allure-results").is_dir()
    assert leaked_secrets(identity_run) == []


def test_report_renders_offline_in_chromium(identity_run: VerifyRun, open_in_chromium) -> None:
    url = (identity_run.run_dir / "report.html").resolve().as_uri()
    visit = open_in_chromium(url)
    assert visit.page.locator("#verdict").inner_text().startswith("conforms")
    assert visit.page.locator("#req-DPOP-05").is_visible()
    assert visit.errors == []
    assert [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [url]
