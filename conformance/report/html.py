"""report.html: one self-contained file built from results.json and the evidence transcript.

The page must open offline in any browser and make no network request (H-REP-02): CSS, JS and
the SVG chart are inline, the favicon is a ``data:`` URL, and a strict Content-Security-Policy
forbids any other source. Everything shown is autoescaped by Jinja2; evidence was redacted when
it was captured and the run directory is scrubbed again after the report is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from conformance.report.results import STATUSES

TEMPLATE = "report.html.j2"
STATUS_COLOURS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "error": "#8250df",
    "skip": "#bf8700",
    "disabled": "#6e7781",
}
STATUS_SYMBOLS = {"pass": "✓", "fail": "✗", "error": "!", "skip": "○", "disabled": "-"}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["http_request"] = http_request
    env.filters["http_response"] = http_response
    env.filters["pretty_json"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)
    return env


def _transcript(first_line: str, headers: Any, body: Any) -> str:
    lines = [first_line]
    lines += [f"{name}: {value}" for name, value in headers or ()]
    text = body.get("text", "") if isinstance(body, Mapping) else ""
    if text:
        lines += ["", text]
    return "\n".join(lines)


def http_request(request: Mapping[str, Any]) -> str:
    """A redacted request as HTTP/1.1-style text."""
    return _transcript(
        f"{request.get('method', '?')} {request.get('url', '?')}",
        request.get("headers"),
        request.get("body"),
    )


def http_response(response: Mapping[str, Any]) -> str:
    first = " ".join(str(response.get(k, "")) for k in ("http_version", "status", "reason")).strip()
    return _transcript(first, response.get("headers"), response.get("body"))


def format_duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def load_exchanges(path: Path) -> dict[str, dict[str, Any]]:
    """Exchange dicts by id from evidence/exchanges.jsonl (empty when the file is absent)."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out[item["id"]] = item
    return out


def _bar(counts: Mapping[str, int], width: int = 600, height: int = 18) -> list[dict[str, Any]]:
    """Segments of the stacked status bar (inline SVG, computed here to keep the template dumb)."""
    total = sum(counts.get(s, 0) for s in STATUSES)
    segments: list[dict[str, Any]] = []
    x = 0.0
    for status in ("pass", "fail", "error", "skip", "disabled"):
        n = counts.get(status, 0)
        if not n or not total:
            continue
        w = width * n / total
        segments.append({"status": status, "x": round(x, 2), "w": round(w, 2), "n": n, "h": height})
        x += w
    return segments


def _group_by_area(requirements: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    areas: dict[str, list[Mapping[str, Any]]] = {}
    for r in requirements:
        areas.setdefault(str(r["area"]), []).append(r)
    return [{"name": name, "requirements": reqs} for name, reqs in areas.items()]


def render_report(results: Mapping[str, Any], exchanges: Mapping[str, Mapping[str, Any]]) -> str:
    requirements = list(results.get("requirements", []))
    tests = {t["nodeid"]: t for r in requirements for t in r.get("tests", [])}
    slowest = sorted(tests.values(), key=lambda t: t.get("duration", 0), reverse=True)[:10]
    measurements = [m for r in requirements for m in r.get("measurements", [])]
    # One measurement can belong to several requirements; show it once.
    seen: set[tuple[str, str, str]] = set()
    unique_measurements = []
    for m in measurements:
        key = (m["test"], m["name"], json.dumps(m["value"]))
        if key not in seen:
            seen.add(key)
            unique_measurements.append(m)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        results=results,
        areas=_group_by_area(requirements),
        exchanges=exchanges,
        statuses=STATUSES,
        colours=STATUS_COLOURS,
        symbols=STATUS_SYMBOLS,
        bar=_bar(results.get("counts", {})),
        slowest=slowest,
        measurements=unique_measurements,
        test_count=len(tests),
    )


def write_report(
    run_dir: Path,
    results: Mapping[str, Any],
    exchanges: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``run_dir/report.html``; exchanges default to ``run_dir/evidence/exchanges.jsonl``."""
    if exchanges is None:
        exchanges = load_exchanges(run_dir / "evidence" / "exchanges.jsonl")
    path = run_dir / "report.html"
    path.write_text(render_report(results, exchanges), encoding="utf-8")
    return path
