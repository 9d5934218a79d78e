"""report.html is one self-contained file: no external resource of any kind, all text escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from conformance.catalogue import Requirement
from conformance.evidence import Body, Exchange, RequestSnapshot, ResponseSnapshot
from conformance.report.html import render_report, write_report
from conformance.report.results import Measurement, RequirementResult, RunResults, TestResult

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

# Attributes through which a document can load or link to something.
URL_ATTRIBUTES = {
    "src",
    "href",
    "action",
    "formaction",
    "poster",
    "data",
    "srcset",
    "background",
    "manifest",
    "ping",
    "xlink:href",
    "codebase",
    "cite",
    "longdesc",
    "usemap",
    "icon",
}


def sample_exchange(xid: str, url: str, status: int = 401) -> dict[str, Any]:
    return Exchange(
        id=xid,
        test_id="identity/test_x.py::test_x",
        started_at=1.0,
        elapsed_ms=3.5,
        request=RequestSnapshot(
            "GET", url, (("authorization", "[redacted]"), ("dpop", "[redacted]")), Body("", 0)
        ),
        response=ResponseSnapshot(
            status,
            "Unauthorized",
            "HTTP/1.1",
            (
                ("www-authenticate", 'DPoP error="use_dpop_nonce"'),
                ("content-type", "application/json"),
            ),
            Body('{"error": "use_dpop_nonce", "see": "https://example.com/docs"}', 60),
        ),
    ).to_dict()


def sample_results() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    from datetime import UTC, datetime

    reqs = (
        Requirement(
            "DPOP-02",
            "MUST",
            "DPoP",
            ("identity",),
            "identity.md",
            "Server nonces",
            "A proof without a nonce gets 401.",
        ),
        Requirement(
            "CLOCK-01",
            "SHOULD",
            "Clock",
            ("identity",),
            "identity.md",
            "Clock offset",
            "Dates agree within 1 s.",
        ),
        Requirement(
            "XRPC-01",
            "MUST",
            "XRPC",
            ("identity",),
            "identity.md",
            "Routing",
            "Unknown NSID gets 501.",
        ),
        Requirement(
            "PDS-09", "MUST", "PDS", ("identity",), "identity.md", "Authorize", "A form POST."
        ),
    )
    hostile = '<script>alert("x")</script><img src="https://evil.example/x.png">'
    results = RunResults(
        profile="identity",
        target={
            "name": "stub <b>target</b>",
            "embedded": False,
            "identity": {"pds": "https://pds.example.com"},
        },
        started=datetime(2026, 1, 1, tzinfo=UTC),
        finished=datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
        requirements=(
            RequirementResult(
                reqs[0],
                "fail",
                hostile,
                True,
                (
                    TestResult(
                        "identity/test_x.py::test_x",
                        "fail",
                        0.4,
                        hostile,
                        ("DPOP-02",),
                        ("ex1", "ex2", "missing-id"),
                        3,
                        {"requirement": "DPOP-02", "title": "no nonce", "message": hostile},
                    ),
                ),
            ),
            RequirementResult(
                reqs[1],
                "pass",
                "",
                True,
                (TestResult("identity/test_c.py::test_c", "pass", 0.1, "", ("CLOCK-01",)),),
                (
                    Measurement(
                        "clock offset pds",
                        0.031,
                        "s",
                        "identity/test_c.py::test_c",
                        ("CLOCK-01",),
                        "//not a url",
                    ),
                ),
            ),
            RequirementResult(
                reqs[2],
                "skip",
                "missing feature: x",
                True,
                (TestResult("identity/test_r.py::test_r", "skip", 0.0, "x", ("XRPC-01",)),),
            ),
            RequirementResult(reqs[3], "error", "no test", True, ()),
        ),
        harness={
            "name": "atconform",
            "version": "0.1.0",
            "commit": "0" * 40,
            "python": "3.11",
            "pytest": "9",
        },
    ).to_dict()
    exchanges = {
        "ex1": sample_exchange("ex1", "http://127.0.0.1:2583/xrpc/com.atproto.repo.getRecord?x=1"),
        "ex2": sample_exchange("ex2", "https://pds.example.com//xrpc/x", 200),
    }
    return results, exchanges


class ResourceScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.meta: list[dict[str, str | None]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
            if name in URL_ATTRIBUTES:
                self.urls.append((tag, name, value or ""))
        if tag == "script":
            self.scripts.append(a)
        if tag == "meta":
            self.meta.append(a)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def scan(html: str) -> ResourceScan:
    parser = ResourceScan()
    parser.feed(html)
    parser.close()
    return parser


def test_report_is_self_contained() -> None:
    results, exchanges = sample_results()
    html = render_report(results, exchanges)
    s = scan(html)
    # The only resource-like attribute is the data: favicon.
    assert s.urls == [("link", "href", "data:,")]
    for tag, attr, value in s.attributes:
        assert not re.search(r"(https?:)?//", value), (tag, attr, value)
        assert "url(" not in value and "@import" not in value, (tag, attr, value)
    assert all("src" not in script for script in s.scripts)
    css = "\n".join(s.styles)
    assert "@import" not in css and "url(" not in css and "//" not in css
    assert not {"img", "iframe", "object", "embed", "audio", "video", "base", "form"} & set(s.tags)
    csp = [m for m in s.meta if (m.get("http-equiv") or "").lower() == "content-security-policy"]
    assert [m["content"] for m in csp] == [CSP]
    # Text that merely *mentions* URLs is escaped content, never markup.
    assert "http://127.0.0.1:2583/xrpc/com.atproto.repo.getRecord?x=1" in html


def test_hostile_text_is_escaped() -> None:
    results, exchanges = sample_results()
    html = render_report(results, exchanges)
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(" in html
    assert "stub &lt;b&gt;target&lt;/b&gt;" in html
    assert len(scan(html).scripts) == 1  # ours


def test_report_contents() -> None:
    results, exchanges = sample_results()
    html = render_report(results, exchanges)
    assert "does not conform" in html
    for area in ("DPoP", "Clock", "XRPC", "PDS"):
        assert f'data-area="{area}"' in html
    assert 'id="req-DPOP-02" data-status="fail"' in html
    assert "A proof without a nonce gets 401." in html  # the spec sentence
    assert "clock offset pds" in html and "0.031 s" in html  # measurements
    assert "DPoP error=&#34;use_dpop_nonce&#34;" in html  # evidence, escaped
    assert "exchange missing-id is not in the evidence file" in html
    assert "0" * 40 in html  # harness commit
    for status in ("disabled", "skip", "pass", "fail", "error"):
        assert f'data-status-filter value="{status}"' in html


def test_write_report_reads_evidence_from_the_run_dir(tmp_path: Path) -> None:
    import json

    results, exchanges = sample_results()
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "exchanges.jsonl").write_text(
        "\n".join(json.dumps(x) for x in exchanges.values()) + "\n"
    )
    path = write_report(tmp_path, results)
    assert path == tmp_path / "report.html"
    assert "com.atproto.repo.getRecord" in path.read_text()
