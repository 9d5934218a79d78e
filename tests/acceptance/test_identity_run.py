"""The identity profile end to end: `atconform verify --profile identity` on the embedded default.

One real run (the reference PDS started as a process, accounts provisioned, OAuth logins, every
identity check) whose artifacts the tests below inspect: the verdict (H-CLI-01/02), secrets
(H-REP-01) and the HTML report in a real browser (H-REP-02).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    run_dir: Path
    ledger: tuple[str, ...]
    wall_s: float

    @property
    def results(self) -> dict:
        return json.loads((self.run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("identity-run")
    ledger = base / "secrets.ledger"  # outside the report directory, by design
    env = {**os.environ, "ATCONFORM_SECRET_LEDGER": str(ledger)}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "verify",
            "--profile",
            "identity",
            "--report-dir",
            str(base / "reports"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    wall = time.monotonic() - started
    (run_dir,) = (base / "reports").iterdir()
    secrets = (
        tuple(line for line in ledger.read_text().splitlines() if line) if ledger.exists() else ()
    )
    return Run(done.returncode, done.stdout, done.stderr, run_dir, secrets, wall)


def test_exit_zero_and_every_must_passes(identity_run: Run) -> None:
    assert identity_run.exit_code == 0, identity_run.stdout[-3000:] + identity_run.stderr[-2000:]
    results = identity_run.results
    in_profile = [r for r in results["requirements"] if r["in_profile"]]
    assert {r["id"].split("-")[0] for r in in_profile} == {"XRPC", "PDS", "DPOP", "CLOCK"}
    not_passing = {
        r["id"]: r["status"] for r in in_profile if r["level"] == "MUST" and r["status"] != "pass"
    }
    assert not_passing == {}
    assert results["conforms"] is True
    assert identity_run.stdout.rstrip().endswith(f"report: {identity_run.run_dir / 'report.html'}")


def test_report_shows_clock_offset_and_evidence(identity_run: Run) -> None:
    clock = next(r for r in identity_run.results["requirements"] if r["id"] == "CLOCK-01")
    assert any("clock offset" in m["name"] for m in clock["measurements"])
    dpop = next(r for r in identity_run.results["requirements"] if r["id"] == "DPOP-01")
    assert dpop["tests"] and dpop["tests"][0]["evidence"], (
        "the deciding exchanges are kept as evidence"
    )


def test_nothing_is_left_running(identity_run: Run) -> None:
    pds = urlsplit(identity_run.results["target"]["identity"]["pds"])
    with socket.socket() as sock:
        sock.settimeout(1)
        assert sock.connect_ex((pds.hostname, pds.port)) != 0, "the embedded PDS is still listening"


def _kind(secret: str) -> str:
    if secret.startswith("eyJ") and secret.count(".") == 2:
        header = json.loads(base64.urlsafe_b64decode(secret.split(".")[0] + "=="))
        return str(header.get("typ"))
    return "opaque"


def test_no_secret_reaches_any_artifact(identity_run: Run) -> None:
    kinds = Counter(_kind(s) for s in identity_run.ledger)
    # The run really used each kind of secret: DPoP proofs, OAuth and session access tokens,
    # refresh tokens, and opaque ones (passwords, codes, PKCE verifiers, OAuth refresh tokens).
    assert kinds["dpop+jwt"] >= 50 and kinds["at+jwt"] >= 3 and kinds["refresh+jwt"] >= 1
    assert kinds["opaque"] >= 5
    artifacts = [p for p in identity_run.run_dir.rglob("*") if p.is_file()]
    names = {p.name for p in artifacts}
    assert {
        "report.html",
        "results.json",
        "junit.xml",
        "SHA256SUMS",
        "exchanges.jsonl",
        "pds.log",
    } <= names
    assert any(p.parent.name == "allure-results" for p in artifacts)
    leaks = [
        f"{path.relative_to(identity_run.run_dir)} contains a {_kind(secret)} secret"
        for path in artifacts
        for secret in identity_run.ledger
        if len(secret) >= 6 and secret.encode() in path.read_bytes()
    ]
    assert leaks == []


def test_report_renders_offline_in_chromium(identity_run: Run, open_in_chromium) -> None:
    url = (identity_run.run_dir / "report.html").resolve().as_uri()
    visit = open_in_chromium(url)
    assert visit.page.locator("#verdict").inner_text().startswith("conforms")
    assert visit.page.locator("#req-DPOP-05").is_visible()
    assert visit.errors == []
    assert [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [url]
