"""``atconform``: the command line (H-CLI-01..04).

Exit codes: 0 every MUST requirement that ran passed; 1 a MUST failed (or is missing); 2 usage
or configuration error; 3 the harness could not run (target unreachable, a MUST in error).
Bad input is answered with one line on stderr, never a traceback (``--debug`` shows one for
internal errors).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import webbrowser
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

import httpx
import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

import conformance
from conformance.catalogue import PROFILES, Catalogue, load_catalogue
from conformance.errors import (
    EXIT_COULD_NOT_RUN,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    HarnessError,
    TargetUnreachable,
    UsageError,
)
from conformance.evidence import ExchangeRecorder
from conformance.plugin import ConformancePlugin, RequirementCollector, finalize_run_dir
from conformance.redact import Redactor
from conformance.report.html import write_report
from conformance.report.results import load_results_json
from conformance.report.scrub import SUMS_FILE, verify_sha256sums, write_sha256sums
from conformance.runtime.choose import RUNTIMES, open_runtime
from conformance.runtime.control import CommandControl, NoControl, RuntimeControl, ServiceControl
from conformance.runtime.embedded import start_embedded, with_sync_token
from conformance.runtime.faketime import parse_clock_skews
from conformance.runtime.process import (
    DEFAULT_PORTS,
    SERVICE_MODULES,
    ServiceSpec,
    parse_ports,
    pick_free_ports,
    service_specs,
    services_for,
)
from conformance.target import TargetProfile, load_target

SUITES_DIR = Path(__file__).parent / "suites"
SUITES_INI = SUITES_DIR / "pytest.ini"
LEDGER_ENV = "ATCONFORM_SECRET_LEDGER"
CONCRETE_PROFILES = tuple(p for p in PROFILES if p != "all")
# Profiles whose run includes another profile's suites (atcr.md: atcr is everything in oci plus
# the ATCR-* requirements).
INCLUDED_PROFILES: dict[str, tuple[str, ...]] = {"atcr": ("oci",)}

# Commands the spec names that later issues implement.
NOT_IMPLEMENTED = {
    "fuzz": "lexicon-driven fuzzing (schemathesis) lands in a later issue",
    "load": "Locust load profiles land in a later issue",
}


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting (one-line errors)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("atconform").strip()
        raise UsageError(f"{command}: {message}" if command else message)


@dataclass(frozen=True)
class Io:
    """Where the command line writes: results on ``out``, errors on ``err``."""

    out: TextIO
    err: TextIO

    def console(self) -> Console:
        # soft_wrap: a long line stays one line (H-CLI-04), whatever the terminal width.
        return Console(file=self.out, soft_wrap=True, highlight=False)

    def error_line(self, message: str) -> None:
        self.err.write(f"atconform: error: {message}\n")
        self.err.flush()


def build_parser() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks on errors"
    )
    parser = _Parser(prog="atconform", description="Conformance harness for Stratos and ATCR.")
    parser.add_argument(
        "--version", action="version", version=f"atconform {conformance.__version__}"
    )
    parser.add_argument("--debug", action="store_true", default=False, help="tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the reference implementation")
    _runtime_arguments(serve)
    serve.add_argument(
        "--data-dir", type=Path, help="keep data here (process runtime; default: a temporary dir)"
    )
    serve.add_argument("--ports", help="e.g. pds=2583 (defaults: the documented ports)")
    serve.add_argument("--fault", action="append", default=[], metavar="NAME", help="seed a fault")

    verify = sub.add_parser("verify", parents=[common], help="run the conformance suites")
    verify.add_argument("--target", type=Path, help="target profile TOML (default: embedded)")
    verify.add_argument("--profile", choices=PROFILES, default="all")
    verify.add_argument(
        "--only", nargs="+", action="extend", default=[], metavar="REQ", help="only these IDs"
    )
    verify.add_argument("--report-dir", type=Path, default=Path("reports"))
    _runtime_arguments(verify)
    verify.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="(embedded only)"
    )
    mode = verify.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="only the verdict and report path")
    mode.add_argument("--json", action="store_true", help="results as JSON on stdout")
    verify.add_argument("--suites-dir", type=Path, default=SUITES_DIR, help=argparse.SUPPRESS)

    reqs = sub.add_parser("requirements", parents=[common], help="list the catalogue")
    reqs.add_argument("--profile", choices=PROFILES, default="all")
    reqs.add_argument("--format", choices=("table", "json"), default="table")
    reqs.add_argument("--suites-dir", type=Path, default=SUITES_DIR, help=argparse.SUPPRESS)

    report = sub.add_parser("report", parents=[common], help="rebuild or verify a run's report")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--open", action="store_true", help="open report.html in a browser")
    report.add_argument("--verify", action="store_true", help="check SHA256SUMS only")

    for name in NOT_IMPLEMENTED:
        p = sub.add_parser(name, parents=[common], help="not implemented yet")
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """How the embedded reference implementation runs (docs/docker.md)."""
    parser.add_argument("--runtime", choices=RUNTIMES, default="process")
    parser.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="base of the reference image for --runtime docker "
        "(default: $ATCONFORM_BASE_IMAGE or python:3.11-slim)",
    )
    parser.add_argument(
        "--skew-clock",
        action="append",
        default=[],
        metavar="SERVICE=SECONDS",
        help="run one service's wall clock ahead (or behind, negative) via libfaketime",
    )


def _with_clock_skews(args: argparse.Namespace, specs: list[ServiceSpec]) -> list[ServiceSpec]:
    skews = parse_clock_skews(args.skew_clock, [s.name for s in specs])
    return [replace(s, clock_offset_s=skews.get(s.name, 0.0)) for s in specs]


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    io = Io(out=out or sys.stdout, err=err or sys.stderr)
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in raw
    command = next((a for a in raw if not a.startswith("-")), None)
    if command in NOT_IMPLEMENTED and "-h" not in raw and "--help" not in raw:
        # Before argparse, so any arguments get this answer rather than a usage error.
        io.error_line(f"atconform {command} is not implemented yet ({NOT_IMPLEMENTED[command]})")
        return EXIT_USAGE
    try:
        args = parser.parse_args(raw)
    except UsageError as exc:
        io.error_line(exc.message)
        return exc.exit_code
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command is None:
        io.error_line("a command is needed: serve, verify, requirements, report (see --help)")
        return EXIT_USAGE
    handlers = {
        "serve": cmd_serve,
        "verify": cmd_verify,
        "requirements": cmd_requirements,
        "report": cmd_report,
    }
    try:
        with _sigterm_as_interrupt():
            return handlers[args.command](args, io)
    except HarnessError as exc:
        io.error_line(exc.message)
        if exc.details:
            io.err.write(_indent(exc.details) + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        io.error_line("interrupted")
        return EXIT_COULD_NOT_RUN
    except Exception as exc:
        io.err.write(f"atconform: internal error: {type(exc).__name__}: {_first_line(exc)}\n")
        if debug:
            traceback.print_exc(file=io.err)
        else:
            io.err.write("(run again with --debug for the traceback)\n")
        return EXIT_COULD_NOT_RUN


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGINT, even where a parent shell set it to be ignored) unwinds like Ctrl-C,
    so services are stopped and nothing is left running."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread (e.g. called from a test thread)
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- verify -----------------------------------------------------------------------------------


def implemented_profiles(suites_dir: Path) -> tuple[str, ...]:
    """Concrete profiles whose suite directory holds at least one test module."""
    out = []
    for profile in CONCRETE_PROFILES:
        d = suites_dir / profile
        if d.is_dir() and any(_is_test_file(p) for p in d.rglob("*.py")):
            out.append(profile)
    return tuple(out)


def _is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name.endswith("_test.py")


def covered_profiles(profile: str, suites_dir: Path) -> tuple[tuple[str, ...], list[str]]:
    """(profiles to run, notes); UsageError when the profile has no suites yet."""
    ready = implemented_profiles(suites_dir)
    if profile != "all":
        wanted = (*INCLUDED_PROFILES.get(profile, ()), profile)
        if any(p not in ready for p in wanted):
            raise UsageError(f"profile {profile} is not implemented yet: it has no suites yet")
        return wanted, []
    if not ready:
        raise UsageError("no profile has suites yet")
    missing = [p for p in CONCRETE_PROFILES if p not in ready]
    notes = []
    if missing:
        notes.append(
            f"Profile all covers {', '.join(ready)} only: {', '.join(missing)} "
            "have no suites yet and were not run."
        )
    return ready, notes


def check_only(
    catalogue: Catalogue, only: Sequence[str], covered: Sequence[str], profile: str
) -> tuple[str, ...]:
    ids = catalogue.check_ids(only)
    for req_id in ids:
        req = catalogue.get(req_id)
        if not any(p in req.profiles for p in covered):
            raise UsageError(f"{req_id} is not in profile {profile}")
    return ids


def check_reachable(urls: Sequence[tuple[str, str]], timeout: float = 10.0) -> None:
    """Every URL answers HTTP (any status); TargetUnreachable naming the first that does not."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for label, url in urls:
            try:
                client.get(url)
            except httpx.TimeoutException:
                raise TargetUnreachable(f"cannot reach {label} at {url}: timed out") from None
            except httpx.HTTPError as exc:
                reason = _first_line(exc) or type(exc).__name__
                raise TargetUnreachable(f"cannot reach {label} at {url}: {reason}") from None


def make_run_dir(
    report_dir: Path, target_name: str, profile: str, now: datetime | None = None
) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = report_dir / f"{stamp}-{target_name}-{profile}"
    run_dir = base
    n = 2
    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            run_dir = base.with_name(f"{base.name}-{n}")
            n += 1
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run directory {run_dir}: {exc.strerror}"
            ) from None


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def pytest_args(
    suites_dir: Path, profiles: Sequence[str], run_dir: Path | None = None
) -> list[str]:
    args = [str(suites_dir / p) for p in profiles]
    args += [
        "-c",
        str(SUITES_INI),
        "--rootdir",
        str(suites_dir),
        # conftest.py files are looked up under the suites dir, wherever the ini file lives.
        "--confcutdir",
        str(suites_dir),
        "-p",
        "no:cacheprovider",
        # Our plugin prints the progress; pytest's own terminal output would interleave.
        "-p",
        "no:terminal",
        "--continue-on-collection-errors",
    ]
    if run_dir is not None:
        args += [
            "--junitxml",
            str(run_dir / "junit.xml"),
            "-p",
            "allure_pytest.plugin",
            "--alluredir",
            str(run_dir / "allure-results"),
        ]
    return args


def run_suites(plugin: Any, args: list[str]) -> int:
    """pytest in-process, with only the plugins we name (no entry-point autoloading)."""
    with _env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1"):
        return int(pytest.main(args, plugins=[plugin]))


def cmd_verify(args: argparse.Namespace, io: Io) -> int:
    catalogue = load_catalogue()
    covered, notes = covered_profiles(args.profile, args.suites_dir)
    only = check_only(catalogue, args.only, covered, args.profile)
    mode = "json" if args.json else "quiet" if args.quiet else "normal"
    redactor = Redactor(os.environ.get(LEDGER_ENV) or None)

    if args.target is not None:
        for given, option in ((args.fault, "--fault"), (args.skew_clock, "--skew-clock")):
            if given:
                raise UsageError(f"{option} applies only to the embedded default (no --target)")
        if args.runtime != "process" or args.base_image:
            raise UsageError("--runtime and --base-image apply only to the embedded default")
        target = load_target(args.target, os.environ)
        redactor.add_all(target.secret_values())
        urls: dict[str, str] = {}
        for p in covered:
            urls.update(target.urls_for(p))
        check_reachable(list(urls.items()))
        run_dir = make_run_dir(args.report_dir, target.slug, args.profile)
        _verify_run(
            args,
            io,
            catalogue,
            target,
            redactor,
            covered,
            only,
            notes,
            mode,
            run_dir,
            None,
            target_control(target),
        )
        finalize_run_dir(run_dir, redactor)
    else:
        names = services_for(covered)
        specs = service_specs(names, pick_free_ports(names), args.fault, profile=args.profile)
        specs = _with_clock_skews(args, specs)
        run_dir = make_run_dir(args.report_dir, "embedded", args.profile)
        logs = run_dir / "logs"

        def progress(line: str) -> None:
            if mode == "normal":
                io.console().print(Text(line, style="dim"))

        started = False
        try:
            with (
                tempfile.TemporaryDirectory(prefix="atconform-") as tmp,
                open_runtime(
                    args.runtime,
                    Path(tmp) / "data",
                    logs,
                    base_image=args.base_image,
                    clock_skew=any(s.clock_offset_s for s in specs),
                    progress=progress,
                ) as runtime,
            ):
                progress(f"starting the reference implementation ({', '.join(names)}) as "
                         f"{'containers' if args.runtime == 'docker' else 'processes'}…")
                started = True
                target = start_embedded(runtime, specs, redactor)
                _verify_run(
                    args,
                    io,
                    catalogue,
                    target,
                    redactor,
                    covered,
                    only,
                    [*notes, f"The reference implementation ran as {runtime.description}."],
                    mode,
                    run_dir,
                    logs,
                    RuntimeControl(runtime),
                )
            # Services are stopped here: their logs are complete before the scrub and checksums.
        except HarnessError as exc:
            if not started:
                # No engine, no image: nothing ran, so no run directory is left behind.
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            # Keep the run directory's logs honest: they may show why it failed.
            finalize_run_dir(run_dir, redactor)
            raise HarnessError(
                exc.message + f" (run directory: {run_dir})", exc.exit_code, exc.details
            ) from None
        finalize_run_dir(run_dir, redactor)

    final = load_results_json(run_dir / "results.json")
    exit_code = int(final["exit_code"])
    report = run_dir / "report.html"
    if mode == "json":
        io.out.write(
            json.dumps({"run_dir": str(run_dir), "report": str(report), **final}, indent=2) + "\n"
        )
    else:
        console = io.console()
        if mode == "quiet":
            console.print(
                Text(final["verdict"], style="bold green" if final["conforms"] else "bold red")
            )
        console.print(f"report: {report}")
    return exit_code


def target_control(target: TargetProfile) -> ServiceControl:
    """What a remote target lets the harness stop and start (its profile's commands)."""
    if target.atcr.hold_stop and target.atcr.hold_start:
        return CommandControl({"hold": (target.atcr.hold_stop, target.atcr.hold_start)})
    return NoControl()


def _verify_run(
    args: argparse.Namespace,
    io: Io,
    catalogue: Catalogue,
    target: TargetProfile,
    redactor: Redactor,
    covered: tuple[str, ...],
    only: tuple[str, ...],
    notes: list[str],
    mode: str,
    run_dir: Path,
    logs: Path | None,
    control: ServiceControl,
) -> dict[str, Any]:
    recorder = ExchangeRecorder(redactor)
    plugin = ConformancePlugin(
        target=target,
        redactor=redactor,
        recorder=recorder,
        profile=args.profile,
        catalogue=catalogue,
        covered_profiles=covered,
        only=only,
        run_dir=run_dir,
        logs_dir=logs,
        mode=mode,
        console=io.console(),
        notes=notes,
        control=control,
    )
    code = run_suites(plugin, pytest_args(args.suites_dir, covered, run_dir))
    if plugin.results is None:
        raise HarnessError(f"pytest could not run the suites (pytest exit code {code})")
    # An interrupted run still has results: what did not run is an error (exit 3).
    return plugin.results.to_dict()


# --- serve ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, io: Io) -> int:
    if args.runtime == "docker" and args.data_dir is not None:
        raise UsageError(
            "--data-dir applies to --runtime process; containers keep their data in volumes "
            "that are removed on exit"
        )
    names = tuple(n for n in services_for(["all"]) if n in SERVICE_MODULES)
    ports = {n: DEFAULT_PORTS[n] for n in names} | parse_ports(args.ports, names)
    specs = with_sync_token(service_specs(names, ports, args.fault), Redactor(None))
    specs = _with_clock_skews(args, specs)
    # No allowlist or crew list exists for a hand-started deployment: enrollment is open and
    # any signed-in user may push to the hold, unless the caller's own env says otherwise.
    opened = {
        "stratos": {"STRATOS_ENROLLMENT_MODE": os.environ.get("STRATOS_ENROLLMENT_MODE", "open")},
        "hold": {"HOLD_ALLOW_ALL_CREW": os.environ.get("HOLD_ALLOW_ALL_CREW", "true")},
    }
    specs = [replace(s, env={**s.env, **opened.get(s.name, {})}) for s in specs]
    console = io.console()
    with tempfile.TemporaryDirectory(prefix="atconform-serve-") as tmp:
        data_dir: Path = args.data_dir if args.data_dir is not None else Path(tmp)
        with open_runtime(
            args.runtime,
            data_dir,
            data_dir / "logs",
            base_image=args.base_image,
            clock_skew=any(s.clock_offset_s for s in specs),
            progress=lambda line: console.print(Text(line, style="dim")),
        ) as runtime:
            try:
                urls = runtime.start(specs)
                for name, url in urls.items():
                    console.print(f"{name:<16} {url}   log: {runtime.log_location(name)}")
                if args.runtime == "docker":
                    console.print("data: docker volumes (removed on exit) — Ctrl-C to stop")
                else:
                    kept = "kept" if args.data_dir is not None else "deleted on exit"
                    console.print(f"data: {data_dir} ({kept}) — Ctrl-C to stop")
                while True:
                    died = runtime.exited()
                    if died:
                        name, code = next(iter(died.items()))
                        raise HarnessError(
                            f"{name} exited with code {code}; see {runtime.log_location(name)}",
                            details=runtime.log_tail(name),
                        )
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        console.print("stopped")
    return EXIT_OK


# --- requirements -----------------------------------------------------------------------------


def collect_tests(
    catalogue: Catalogue, suites_dir: Path, profiles: Sequence[str]
) -> RequirementCollector:
    collector = RequirementCollector(catalogue)
    if profiles:
        args = [*pytest_args(suites_dir, profiles), "--collect-only"]
        code = run_suites(collector, args)
        if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
            raise HarnessError(f"pytest could not collect the suites (pytest exit code {code})")
    return collector


def cmd_requirements(args: argparse.Namespace, io: Io) -> int:
    catalogue = load_catalogue()
    reqs = catalogue.for_profile(args.profile)
    ready = implemented_profiles(args.suites_dir)
    wanted = CONCRETE_PROFILES if args.profile == "all" else (args.profile,)
    collector = collect_tests(catalogue, args.suites_dir, [p for p in ready if p in wanted])
    for error in collector.errors:
        io.err.write(f"atconform: warning: cannot collect {error.nodeid}\n")
    if args.format == "json":
        doc = [
            {
                "id": r.id,
                "level": r.level,
                "area": r.area,
                "profiles": list(r.profiles),
                "source": r.source,
                "title": r.title,
                "text": r.text,
                "tests": collector.tests.get(r.id, []),
            }
            for r in reqs
        ]
        io.out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    table = Table(title=f"requirements — profile {args.profile}", show_lines=False)
    for column in ("ID", "level", "area", "profiles", "tests", "requirement"):
        table.add_column(column, overflow="fold")
    for r in reqs:
        n = len(collector.tests.get(r.id, []))
        table.add_row(r.id, r.level, r.area, ", ".join(r.profiles), str(n) if n else "-", r.title)
    Console(file=io.out, highlight=False).print(table)
    return EXIT_OK


# --- report -----------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace, io: Io) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory")
    if args.verify:
        try:
            verification = verify_sha256sums(run_dir)
        except FileNotFoundError:
            raise ConfigError(f"{run_dir} has no {SUMS_FILE}") from None
        if verification.ok:
            io.out.write(f"ok: {verification.checked} files match {SUMS_FILE}\n")
            return EXIT_OK
        for problem in verification.problems:
            io.err.write(f"atconform: {problem}\n")
        io.error_line(f"{run_dir}: {len(verification.problems)} problem(s) with {SUMS_FILE}")
        return 1
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise ConfigError(f"{run_dir} has no results.json")
    try:
        data = load_results_json(results_path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    report = write_report(run_dir, data)
    write_sha256sums(run_dir)
    io.out.write(f"report: {report}\n")
    if args.open:
        webbrowser.open(report.resolve().as_uri())
    return EXIT_OK
