"""H-REP-02: report.html renders in a real headless Chromium, with no console error and no
network request, and its status filter works."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conformance.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_plugin_autoload")]

SUITE = """
import pytest
from conformance.checks.base import Failure, require

@pytest.mark.requirement("XRPC-01")
def test_routing(target, http, measure):
    measure("clock offset pds", 0.012, "s")
    assert http.get(target.identity.pds + "/xrpc/_health").status_code == 200

@pytest.mark.requirement("XRPC-02")
def test_envelope(target, http):
    url = target.identity.pds + "/xrpc/com.example.nothing"
    r = http.get(url, headers={"Authorization": "DPoP abc"})
    require(Failure("XRPC-02", "wrong envelope", "<b>deliberately</b> failing", (r,)))

@pytest.mark.requirement("DPOP-11")
def test_rotation():
    pytest.skip("unsupported: no nonce rotation")
"""


@pytest.fixture
def report_html(write_suite, write_target, stub_url: str, tmp_path: Path) -> Path:
    target = write_target(f'name = "browser"\n[identity]\npds = "{stub_url}"\nplc = "{stub_url}"\n')
    suites = write_suite(identity=SUITE)
    code = main(
        [
            "verify",
            "--target",
            str(target),
            "--profile",
            "identity",
            "--suites-dir",
            str(suites),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert code == 3  # most identity requirements have no test in this synthetic suite
    (run_dir,) = list((tmp_path / "reports").iterdir())
    return run_dir / "report.html"


def test_report_in_headless_chromium(report_html: Path, tmp_path: Path, open_in_chromium) -> None:
    url = report_html.resolve().as_uri()
    visit = open_in_chromium(url)
    page = visit.page
    assert page.locator("#verdict").inner_text().startswith("does not conform")
    assert page.locator("tbody.req").count() == 29
    assert page.locator("#shown-count").inner_text() == "29 of 29 shown"
    # Filtering by status: hide everything but the failures.
    for status in ("disabled", "skip", "pass", "error"):
        page.locator(f'input[data-status-filter][value="{status}"]').uncheck()
    assert page.locator("#shown-count").inner_text() == "1 of 29 shown"
    assert page.locator("#req-XRPC-02").is_visible()
    assert not page.locator("#req-XRPC-01").is_visible()
    # Evidence opens and shows the redacted exchange.
    page.locator("#expand-all").click()
    evidence = page.locator("#req-XRPC-02 details.exchange pre").first.inner_text()
    assert "authorization: [redacted]" in evidence
    assert "<b>deliberately</b> failing" in page.locator("#req-XRPC-02").inner_text()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert visit.errors == []
    assert [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [url]  # the file itself and nothing else
