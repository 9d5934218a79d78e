"""The pytest plugin behind ``atconform verify``: requirements, statuses, progress and evidence.

Use it as an object: ``pytest.main(args, plugins=[ConformancePlugin(...)])`` (what the command
line does), or load the module with ``-p conformance.plugin --atconform-target FILE`` to run a
suite with plain pytest.

What it does:

- registers the ``requirement(*ids)`` marker; a test naming an unknown ID, or no ID at all, is a
  collection error (reports are organised by requirement, so an unmapped test is a defect);
- maps each test to a status: ``pass``; ``fail`` (CheckFailed, AssertionError or ``pytest.fail``
  in the test body); ``error`` (any other exception, setup/teardown errors, not run);
  ``skip`` (``pytest.skip("unsupported: ...")``, and any other skip); ``disabled``
  (``pytest.skip("disabled: ...")``, or deselected by ``--only``);
- rolls tests up into per-requirement statuses (worst of: disabled < skip < pass < fail < error);
  a requirement of the profile with no test at all is an ``error`` ("no test");
- prints one live line per requirement as its last test finishes, and a summary;
- scopes the run's ExchangeRecorder to each test and keeps each test's evidence (the exchanges a
  Failure names first, then the test's other exchanges, capped);
- provides the fixtures ``target``, ``redactor``, ``recorder``, ``http``, ``measure`` (alias
  ``record_measurement``), ``progress`` (a live bar for long phases) and ``run_info``;
- writes ``results.json``, ``evidence/exchanges.jsonl`` and ``report.html`` into the run
  directory at the end of the session.

A test covering several requirements gives its status to all of them, so a suite that must
report exactly one failing requirement per broken behaviour uses one requirement per test.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from conformance.catalogue import PROFILES, Catalogue, load_catalogue
from conformance.checks.base import CheckFailed, Failure
from conformance.evidence import Exchange, ExchangeRecorder, exchange_from_response
from conformance.redact import Redactor
from conformance.report.html import STATUS_SYMBOLS, write_report
from conformance.report.results import (
    CollectionError,
    Measurement,
    RequirementResult,
    RunResults,
    TestResult,
    harness_info,
    requirement_status,
    worst,
    write_results_json,
)
from conformance.report.scrub import scrub_run_dir, write_sha256sums
from conformance.runtime.control import NoControl, ServiceControl
from conformance.target import TargetProfile, load_target

PLUGIN_NAME = "atconform"
MARKER = "requirement"
MARKER_HELP = "requirement(*ids): the catalogue requirement IDs this test checks"
HTTP_TIMEOUT = 30.0
MAX_EVIDENCE_PER_TEST = 20
MAX_MESSAGE = 2000

MODES = ("normal", "quiet", "json")
_STYLES = {
    "pass": "bold green",
    "fail": "bold red",
    "error": "bold magenta",
    "skip": "yellow",
    "disabled": "dim",
}


@dataclass(frozen=True)
class RunInfo:
    """Facts about the current run, for suites that need them (``run_info`` fixture)."""

    profile: str
    target_name: str
    embedded: bool
    started: datetime
    run_dir: Path | None = None
    logs_dir: Path | None = None
    only: tuple[str, ...] = ()
    covered_profiles: tuple[str, ...] = ()


class Measure:
    """Records measurements for the current test (``measure(name, value, unit)``)."""

    def __init__(
        self,
        sink: Callable[[Measurement], None],
        test: str,
        requirements: tuple[str, ...],
        redactor: Redactor,
    ) -> None:
        self._sink = sink
        self._test = test
        self._requirements = requirements
        self._redactor = redactor

    def __call__(
        self,
        name: str,
        value: float | int | str,
        unit: str = "",
        note: str = "",
        *,
        requirement: str | None = None,
    ) -> None:
        """Record ``value`` (in ``unit``) under ``name``; by default for every requirement the
        test checks, or only ``requirement`` when given."""
        if not name:
            raise ValueError("a measurement needs a name")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(f"measurement {name!r}: value must be a number or a string")
        reqs = self._requirements if requirement is None else (requirement,)
        self._sink(
            Measurement(
                name=self._redactor.text(name),
                value=self._redactor.text(value) if isinstance(value, str) else value,
                unit=unit,
                test=self._test,
                requirements=reqs,
                note=self._redactor.text(note),
            )
        )


def _no_advance(amount: float = 1.0) -> None:
    return None


class PhaseProgress:
    """A progress bar for a long phase of a test (``progress`` fixture), e.g. waiting out a
    rate-limit window: ``with progress("rate-limit window", total=60) as advance: advance(1)``.

    Shown only in the normal output mode; pytest's output capture is suspended while the bar
    is live so it reaches the terminal.
    """

    def __init__(self, console: Console | None, capture: Any) -> None:
        self._console = console
        self._capture = capture

    @contextmanager
    def __call__(
        self, description: str, total: float | None = None
    ) -> Iterator[Callable[[float], None]]:
        if self._console is None:
            yield _no_advance
            return
        suspend = (
            self._capture.global_and_fixture_disabled()
            if self._capture is not None
            else contextlib.nullcontext()
        )
        with (
            suspend,
            Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self._console,
            ) as bar,
        ):
            task = bar.add_task(description, total=total)

            def advance(amount: float = 1.0) -> None:
                bar.advance(task, amount)

            yield advance


class _TestState:
    """What the plugin learns about one selected test while it runs (internal accumulator)."""

    def __init__(self, nodeid: str, requirements: tuple[str, ...]) -> None:
        self.nodeid = nodeid
        self.requirements = requirements
        self.outcomes: list[tuple[str, str]] = []  # (status, message) per decisive phase
        self.duration = 0.0
        self.failure: Failure | None = None
        self.finished = False
        self.result: TestResult | None = None

    def add(self, status: str, message: str) -> None:
        self.outcomes.append((status, message))


def unsupported(reason: str) -> NoReturn:
    """Skip the test as ``skip``: the target validly lacks an optional feature."""
    pytest.skip(f"unsupported: {reason}")


def disabled(reason: str) -> NoReturn:
    """Skip the test as ``disabled``: turned off by the target profile or the user."""
    pytest.skip(f"disabled: {reason}")


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The IDs of every ``requirement`` marker on an item (function, class and module)."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        for arg in mark.args:
            if not isinstance(arg, str):
                raise TypeError(f"requirement IDs are strings, got {arg!r}")
            ids.append(arg)
    return tuple(dict.fromkeys(ids))


def _check_collected(report: pytest.CollectReport, catalogue: Catalogue) -> None:
    """Turn a module whose tests name unknown (or no) requirements into a collection error."""
    if not report.passed or not report.result:
        return
    problems: list[str] = []
    for node in report.result:
        if not isinstance(node, pytest.Item):
            continue
        try:
            ids = requirement_ids(node)
        except TypeError as exc:
            problems.append(f"{node.nodeid}: {exc}")
            continue
        if not ids:
            problems.append(
                f"{node.nodeid}: no @pytest.mark.requirement(...) — every conformance test "
                "must name the requirement(s) it checks"
            )
        for req_id in ids:
            if req_id not in catalogue:
                problems.append(
                    f"{node.nodeid}: unknown requirement ID {req_id!r}{catalogue.suggest(req_id)}"
                )
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []


def _one_line(message: str, limit: int = 160) -> str:
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _collection_summary(longrepr: str) -> str:
    lines = [ln.strip() for ln in longrepr.splitlines() if ln.strip()]
    if not lines:
        return "collection failed"
    # Python's import errors end with the exception ("E   ModuleNotFoundError: ...").
    last = lines[-1]
    return _one_line(last[1:].strip() if last.startswith("E ") else lines[0])


class ConformancePlugin:
    """One run's pytest plugin; see the module docstring."""

    def __init__(
        self,
        *,
        target: TargetProfile,
        redactor: Redactor,
        recorder: ExchangeRecorder,
        profile: str = "identity",
        catalogue: Catalogue | None = None,
        covered_profiles: Sequence[str] | None = None,
        only: Sequence[str] = (),
        run_dir: Path | None = None,
        logs_dir: Path | None = None,
        mode: str = "normal",
        console: Console | None = None,
        notes: Sequence[str] = (),
        max_evidence_per_test: int = MAX_EVIDENCE_PER_TEST,
        finalize: bool = False,
        started: datetime | None = None,
        control: ServiceControl | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}")
        self.target = target
        self.redactor = redactor
        self.recorder = recorder
        self.control: ServiceControl = control if control is not None else NoControl()
        self.profile = profile
        self.catalogue = catalogue if catalogue is not None else load_catalogue()
        concrete = tuple(p for p in PROFILES if p != "all")
        self.covered_profiles = tuple(
            covered_profiles
            if covered_profiles is not None
            else (concrete if profile == "all" else (profile,))
        )
        self.only = self.catalogue.check_ids(only) if only else ()
        self.run_dir = run_dir
        self.mode = mode
        self.console = console if console is not None else Console(highlight=False)
        self.notes = tuple(notes)
        self.max_evidence = max_evidence_per_test
        self.finalize = finalize
        self.started = started or datetime.now(UTC)
        self.run_info = RunInfo(
            profile=profile,
            target_name=target.name,
            embedded=target.embedded,
            started=self.started,
            run_dir=run_dir,
            logs_dir=logs_dir,
            only=self.only,
            covered_profiles=self.covered_profiles,
        )
        self.results: RunResults | None = None
        self._tests: dict[str, _TestState] = {}
        self._remaining: dict[str, int] = {}
        self._printed: set[str] = set()
        self._measurements: list[Measurement] = []
        self._extra_exchanges: dict[str, Exchange] = {}
        self._collection_errors: list[CollectionError] = []
        self._interrupted = False
        # Secrets the profile resolved must never reach an artifact.
        redactor.add_all(target.secret_values())

    # --- pytest configuration -------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", MARKER_HELP)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.finalize and self.run_dir is not None and self.run_dir.is_dir():
            finalize_run_dir(self.run_dir, self.redactor)

    # --- collection ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        _check_collected(report, self.catalogue)
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        message = self.redactor.text(str(report.longrepr))[:MAX_MESSAGE]
        self._collection_errors.append(CollectionError(report.nodeid, message))
        if self.mode != "json":
            line = Text("collection error ", style="bold magenta")
            line.append(f"{report.nodeid or '<session>'}: {_collection_summary(message)}")
            self.console.print(line)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        selected: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for item in items:
            ids = requirement_ids(item)
            if self.only and not set(ids) & set(self.only):
                deselected.append(item)
            else:
                selected.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
        for item in selected:
            ids = requirement_ids(item)
            self._tests[item.nodeid] = _TestState(item.nodeid, ids)
            for req_id in ids:
                self._remaining[req_id] = self._remaining.get(req_id, 0) + 1
        if self.mode == "normal":
            self.console.print(
                Text(
                    f"atconform: profile {self.profile}, target {self.target.name} — "
                    f"{len(selected)} test(s) for {len(self._remaining)} requirement(s)",
                    style="bold",
                )
            )

    # --- running ------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        # Every exchange made while this test runs (setup to teardown) is its evidence.
        with self.recorder.scope(item.nodeid):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = self._tests.get(item.nodeid)
        if state is not None:
            state.duration += report.duration
            self._record_phase(state, report, call)
        return report

    def _record_phase(
        self, state: _TestState, report: pytest.TestReport, call: pytest.CallInfo[None]
    ) -> None:
        excinfo = call.excinfo
        if report.skipped:
            if hasattr(report, "wasxfail"):
                state.add("error", "xfail markers are not allowed in conformance suites")
                return
            reason = ""
            if excinfo is not None:
                reason = str(getattr(excinfo.value, "msg", "") or excinfo.value)
            elif isinstance(report.longrepr, tuple):
                reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            state.add(*self._skip_status(reason))
            return
        if report.passed:
            if report.when == "call":
                if hasattr(report, "wasxfail"):
                    state.add("error", "xfail markers are not allowed in conformance suites")
                else:
                    state.add("pass", "")
            return
        # failed
        if report.when != "call":
            what = excinfo.exconly() if excinfo is not None else str(report.longrepr)
            state.add("error", self._clean(f"{report.when} error: {what}"))
            return
        if excinfo is None:
            state.add("error", self._clean(str(report.longrepr)))
            return
        exc = excinfo.value
        if isinstance(exc, CheckFailed):
            state.failure = exc.failure
            f = exc.failure
            state.add("fail", self._clean(f"[{f.requirement}] {f.title}: {f.message}"))
        elif isinstance(exc, AssertionError | pytest.fail.Exception):
            text = str(exc) or excinfo.exconly()
            if isinstance(exc, AssertionError) and not str(exc):
                text = "assertion failed"
            state.add("fail", self._clean(text))
        else:
            state.add("error", self._clean(excinfo.exconly()))

    def _skip_status(self, reason: str) -> tuple[str, str]:
        reason = reason.strip()
        lowered = reason.lower()
        if lowered.startswith("disabled:"):
            return "disabled", self._clean(reason[len("disabled:") :].strip())
        if lowered.startswith("unsupported:"):
            return "skip", self._clean(reason[len("unsupported:") :].strip())
        return "skip", self._clean(reason)

    def _clean(self, message: str) -> str:
        return self.redactor.text(message)[:MAX_MESSAGE]

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        state = self._tests.get(nodeid)
        if state is None or state.finished:
            return
        state.finished = True
        state.result = self._finish_test(state)
        for req_id in state.requirements:
            self._remaining[req_id] -= 1
            if self._remaining[req_id] == 0:
                self._print_requirement(req_id)

    def _finish_test(self, state: _TestState) -> TestResult:
        if state.outcomes:
            status = worst(s for s, _ in state.outcomes)
            assert status is not None
            message = next(m for s, m in state.outcomes if s == status)
        else:
            status, message = "error", "not run"
        evidence, total = self._evidence(state)
        failure = None
        if state.failure is not None:
            failure = {
                "requirement": state.failure.requirement,
                "title": self._clean(state.failure.title),
                "message": self._clean(state.failure.message),
            }
        return TestResult(
            nodeid=state.nodeid,
            status=status,
            duration=state.duration,
            message=message,
            requirements=state.requirements,
            evidence=evidence,
            evidence_total=total,
            failure=failure,
        )

    def _evidence(self, state: _TestState) -> tuple[tuple[str, ...], int]:
        """Exchange ids for a test: the Failure's deciding responses first, then the rest."""
        deciding: list[str] = []
        if state.failure is not None:
            for response in state.failure.responses:
                exchange = self.recorder.find(response)
                if exchange is None:
                    # The response came from a client without the recorder's hooks.
                    exchange = exchange_from_response(
                        response, self.redactor, test_id=state.nodeid, note="deciding exchange"
                    )
                    self._extra_exchanges[exchange.id] = exchange
                if exchange.id not in deciding:
                    deciding.append(exchange.id)
        own = [e.id for e in self.recorder.for_test(state.nodeid) if e.id not in deciding]
        room = max(self.max_evidence - len(deciding), 0)
        # The last exchanges are closest to the verdict; earlier ones are often shared setup.
        kept = own[-room:] if room else []
        ids = tuple(deciding[: self.max_evidence]) + tuple(kept)
        return ids, len(set(deciding) | set(own))

    # --- fixtures -------------------------------------------------------------------------------

    @pytest.fixture(scope="session", name="target")
    def target_fixture(self) -> TargetProfile:
        """The target profile of the run (secrets via ``target.secret(env_name)``)."""
        return self.target

    @pytest.fixture(scope="session", name="redactor")
    def redactor_fixture(self) -> Redactor:
        """The run's Redactor: register every secret you create or receive (``.add``)."""
        return self.redactor

    @pytest.fixture(scope="session", name="recorder")
    def recorder_fixture(self) -> ExchangeRecorder:
        """The run's ExchangeRecorder (hook it into any extra httpx client you build)."""
        return self.recorder

    @pytest.fixture(scope="session", name="run_info")
    def run_info_fixture(self) -> RunInfo:
        return self.run_info

    @pytest.fixture(scope="session", name="service_control")
    def service_control_fixture(self) -> ServiceControl:
        """Stops and starts the target's services for outage checks (``can_control`` first)."""
        return self.control

    @pytest.fixture(name="http")
    def http_fixture(self) -> Iterator[httpx.Client]:
        """An httpx client whose exchanges become the test's evidence (30 s, no redirects)."""
        with httpx.Client(
            event_hooks=self.recorder.event_hooks(),
            timeout=HTTP_TIMEOUT,
            follow_redirects=False,
        ) as client:
            yield client

    @pytest.fixture(name="measure")
    def measure_fixture(self, request: pytest.FixtureRequest) -> Measure:
        """``measure(name, value, unit="", note="")`` — shown in results and report."""
        node = request.node
        ids = requirement_ids(node) if isinstance(node, pytest.Item) else ()
        return Measure(self._measurements.append, node.nodeid, ids, self.redactor)

    @pytest.fixture(name="progress")
    def progress_fixture(self, request: pytest.FixtureRequest) -> PhaseProgress:
        """``with progress(description, total) as advance:`` — a live bar for a long phase."""
        capture = request.config.pluginmanager.getplugin("capturemanager")
        return PhaseProgress(self.console if self.mode == "normal" else None, capture)

    @pytest.fixture(name="record_measurement")
    def record_measurement_fixture(self, measure: Measure) -> Measure:
        return measure

    # --- the end ------------------------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self._interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for state in self._tests.values():
            if not state.finished:
                state.finished = True
                state.result = self._finish_test(state)
        notes = list(self.notes)
        if self._interrupted:
            notes.append("The run was interrupted; tests that did not run are errors.")
        self.results = self._build_results(notes)
        if self.mode == "normal":
            self._print_summary()
        if self.run_dir is not None:
            self.write_artifacts(self.run_dir)

    def _requirement_results(self) -> list[RequirementResult]:
        tests = [s.result for s in self._tests.values() if s.result is not None]
        tested = {req_id for t in tests for req_id in t.requirements}
        out: list[RequirementResult] = []
        for req in self.catalogue:
            in_profile = any(p in req.profiles for p in self.covered_profiles)
            if not in_profile and req.id not in tested:
                continue
            mine = tuple(t for t in tests if req.id in t.requirements)
            selected = not self.only or req.id in self.only
            status, message = requirement_status(req, mine, selected=selected)
            out.append(
                RequirementResult(
                    requirement=req,
                    status=status,
                    message=message,
                    in_profile=in_profile,
                    tests=mine if selected else (),
                    measurements=tuple(m for m in self._measurements if req.id in m.requirements),
                )
            )
        return out

    def _build_results(self, notes: Sequence[str]) -> RunResults:
        return RunResults(
            profile=self.profile,
            target=self.target.redacted_dict(),
            started=self.started,
            finished=datetime.now(UTC),
            requirements=tuple(self._requirement_results()),
            only=self.only,
            collection_errors=tuple(self._collection_errors),
            notes=tuple(notes),
            harness=harness_info(),
            artifacts={
                "report": "report.html",
                "results": "results.json",
                "junit": "junit.xml",
                "allure": "allure-results/",
                "evidence": "evidence/exchanges.jsonl",
                "logs": "logs/",
                "checksums": "SHA256SUMS",
            },
        )

    def write_artifacts(self, run_dir: Path) -> dict[str, Any]:
        """Write evidence/exchanges.jsonl, results.json and report.html; returns the results."""
        if self.results is None:
            raise RuntimeError("the session has not finished")
        evidence = run_dir / "evidence" / "exchanges.jsonl"
        self.recorder.write_jsonl(evidence)
        if self._extra_exchanges:
            with evidence.open("a", encoding="utf-8") as out:
                for exchange in self._extra_exchanges.values():
                    out.write(json.dumps(exchange.to_dict(), ensure_ascii=False) + "\n")
        data = write_results_json(run_dir / "results.json", self.results)
        write_report(run_dir, data)
        return data

    # --- live output --------------------------------------------------------------------------

    def _requirement_line(self, req_id: str, status: str, message: str, duration: float) -> Text:
        req = self.catalogue.get(req_id)
        line = Text()
        line.append(f"{STATUS_SYMBOLS[status]} {status.upper():<8}", style=_STYLES[status])
        line.append(f" {req.id:<10}", style="bold")
        line.append(f" {req.level:<6}", style="dim" if req.level == "SHOULD" else "")
        line.append(f" {req.title}")
        if message:
            line.append(f" — {_one_line(message, 110)}", style="dim" if status == "pass" else "")
        if duration:
            line.append(f"  {duration:.2f}s", style="dim")
        return line

    def _print_requirement(self, req_id: str) -> None:
        if self.mode != "normal" or req_id in self._printed or req_id not in self.catalogue:
            return
        self._printed.add(req_id)
        req = self.catalogue.get(req_id)
        tests = [
            s.result
            for s in self._tests.values()
            if s.result is not None and req_id in s.requirements
        ]
        status, message = requirement_status(req, tests, selected=True)
        duration = sum(t.duration for t in tests)
        self.console.print(self._requirement_line(req_id, status, message, duration))

    def _print_summary(self) -> None:
        assert self.results is not None
        for r in self.results.requirements:
            if r.requirement.id not in self._printed and r.status != "disabled":
                self._printed.add(r.requirement.id)
                self.console.print(
                    self._requirement_line(r.requirement.id, r.status, r.message, r.duration)
                )
        data = self.results.to_dict()
        counts = data["counts"]
        summary = Text("requirements: ")
        for i, status in enumerate(("pass", "fail", "error", "skip", "disabled")):
            if i:
                summary.append(", ")
            summary.append(
                f"{counts[status]} {status}", style=_STYLES[status] if counts[status] else "dim"
            )
        self.console.print(summary)
        self.console.print(
            Text(data["verdict"], style="bold green" if data["conforms"] else "bold red")
        )


def finalize_run_dir(run_dir: Path, redactor: Redactor) -> Path:
    """Scrub every artifact for registered secrets, then write SHA256SUMS (always last)."""
    scrub_run_dir(run_dir, redactor)
    return write_sha256sums(run_dir)


class RequirementCollector:
    """A collect-only plugin: which tests check which requirement (``atconform requirements``)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.tests: dict[str, list[str]] = {}
        self.errors: list[CollectionError] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", MARKER_HELP)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        _check_collected(report, self.catalogue)
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(CollectionError(report.nodeid, str(report.longrepr)[:MAX_MESSAGE]))

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            for req_id in requirement_ids(item):
                self.tests.setdefault(req_id, []).append(item.nodeid)


# --- `-p conformance.plugin` ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atconform", "atconform conformance harness")
    group.addoption("--atconform-target", metavar="FILE", help="target profile TOML")
    group.addoption(
        "--atconform-profile", default="identity", choices=PROFILES, help="catalogue profile"
    )
    group.addoption("--atconform-run-dir", metavar="DIR", help="write results and report here")
    group.addoption(
        "--atconform-only", action="append", default=[], metavar="REQ", help="only these IDs"
    )


def pytest_configure(config: pytest.Config) -> None:
    if any(isinstance(p, ConformancePlugin) for p in config.pluginmanager.get_plugins()):
        return  # an instance was passed in by the command line
    target_path = config.getoption("--atconform-target")
    if not target_path:
        raise pytest.UsageError("-p conformance.plugin needs --atconform-target FILE")
    run_dir_opt = config.getoption("--atconform-run-dir")
    run_dir = Path(run_dir_opt) if run_dir_opt else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    redactor = Redactor(os.environ.get("ATCONFORM_SECRET_LEDGER"))
    try:
        target = load_target(Path(target_path), os.environ)
    except Exception as exc:  # ConfigError: one line, as pytest usage errors are
        raise pytest.UsageError(str(exc)) from None
    plugin = ConformancePlugin(
        target=target,
        redactor=redactor,
        recorder=ExchangeRecorder(redactor),
        profile=config.getoption("--atconform-profile"),
        only=config.getoption("--atconform-only"),
        run_dir=run_dir,
        finalize=run_dir is not None,
    )
    config.pluginmanager.register(plugin, PLUGIN_NAME)


__all__ = [
    "MARKER",
    "PLUGIN_NAME",
    "ConformancePlugin",
    "Measure",
    "PhaseProgress",
    "RequirementCollector",
    "RunInfo",
    "disabled",
    "finalize_run_dir",
    "requirement_ids",
    "unsupported",
]
