"""The results model: per-test outcomes rolled up into per-requirement verdicts, and results.json.

Status order (worst last): disabled < skip < pass < fail < error. A requirement takes the worst
status of its tests; a profile *conforms* when every MUST requirement in it passes. A skipped
MUST is recorded as a missing feature (the target validly said it does not support it), not as a
failure, but it still means the target does not conform.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import conformance
from conformance.catalogue import Requirement
from conformance.errors import EXIT_COULD_NOT_RUN, EXIT_NOT_CONFORMING, EXIT_OK

SCHEMA = "atconform-results/1"
STATUSES = ("disabled", "skip", "pass", "fail", "error")
_RANK = {s: i for i, s in enumerate(STATUSES)}

CONFORMANCE_RULE = (
    "A target conforms to a profile when every MUST requirement in it passes. A skipped MUST "
    "(the target validly reports it lacks the feature) is recorded as a missing feature, not as "
    "a failure, but the target does not conform. Disabled MUSTs (turned off by the user or the "
    "profile) are not checked, so the run cannot claim conformance; the exit code only counts "
    "the MUSTs that ran."
)


def worst(statuses: Iterable[str]) -> str | None:
    """The worst status of a collection (None when empty)."""
    ranked = [s for s in statuses]
    if not ranked:
        return None
    for s in ranked:
        if s not in _RANK:
            raise ValueError(f"unknown status {s!r}")
    return max(ranked, key=_RANK.__getitem__)


@dataclass(frozen=True)
class Measurement:
    """A number a test measured (clock offset, latency) to show in the report."""

    name: str
    value: float | int | str
    unit: str
    test: str
    requirements: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "test": self.test,
            "requirements": list(self.requirements),
            "note": self.note,
        }


@dataclass(frozen=True)
class TestResult:
    """One test's outcome (not a pytest test class, despite the name)."""

    __test__ = False
    nodeid: str
    status: str
    duration: float  # seconds, setup + call + teardown
    message: str
    requirements: tuple[str, ...]
    evidence: tuple[str, ...] = ()  # exchange ids in evidence/exchanges.jsonl
    evidence_total: int = 0  # exchanges the test made, before the per-test cap
    failure: Mapping[str, str] | None = None  # {"requirement", "title", "message"} of a Failure

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "status": self.status,
            "duration": round(self.duration, 4),
            "message": self.message,
            "requirements": list(self.requirements),
            "evidence": list(self.evidence),
            "evidence_total": self.evidence_total,
            "failure": dict(self.failure) if self.failure is not None else None,
        }


@dataclass(frozen=True)
class RequirementResult:
    requirement: Requirement
    status: str
    message: str
    in_profile: bool
    tests: tuple[TestResult, ...] = ()
    measurements: tuple[Measurement, ...] = ()

    @property
    def duration(self) -> float:
        return sum(t.duration for t in self.tests)

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {
            "id": r.id,
            "level": r.level,
            "area": r.area,
            "title": r.title,
            "text": r.text,
            "source": r.source,
            "in_profile": self.in_profile,
            "status": self.status,
            "message": self.message,
            "duration": round(self.duration, 4),
            "tests": [t.to_dict() for t in self.tests],
            "measurements": [m.to_dict() for m in self.measurements],
        }


@dataclass(frozen=True)
class CollectionError:
    nodeid: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"nodeid": self.nodeid, "message": self.message}


def requirement_status(
    requirement: Requirement,
    tests: Sequence[TestResult],
    *,
    selected: bool,
) -> tuple[str, str]:
    """(status, message) of one requirement from its tests."""
    if not selected:
        return "disabled", "not selected (--only)"
    if not tests:
        # A catalogue defect: every requirement must be checked by at least one test.
        return "error", "no test"
    status = worst(t.status for t in tests)
    assert status is not None
    decisive = next(t for t in tests if t.status == status)
    message = decisive.message
    if status == "skip" and requirement.is_must:
        message = f"missing feature: {message}" if message else "missing feature"
    return status, message


def exit_code_for(results: Sequence[RequirementResult], collection_errors: int = 0) -> int:
    """H-CLI-02 from the MUST requirements that ran: 3 error, 1 fail or missing, else 0."""
    statuses = [
        r.status
        for r in results
        if r.in_profile and r.requirement.is_must and r.status != "disabled"
    ]
    if collection_errors or "error" in statuses:
        return EXIT_COULD_NOT_RUN
    if "fail" in statuses or "skip" in statuses:
        return EXIT_NOT_CONFORMING
    return EXIT_OK


def verdict_for(results: Sequence[RequirementResult]) -> tuple[bool, str]:
    """(conforms, one-line verdict)."""
    musts = [r for r in results if r.in_profile and r.requirement.is_must]
    bad = {s: sum(1 for r in musts if r.status == s) for s in STATUSES}
    conforms = bool(musts) and bad["pass"] == len(musts)
    if conforms:
        return True, f"conforms: all {len(musts)} MUST requirements pass"
    parts = []
    if bad["fail"]:
        parts.append(f"{bad['fail']} MUST failed")
    if bad["error"]:
        parts.append(f"{bad['error']} MUST could not be checked (error)")
    if bad["skip"]:
        parts.append(f"{bad['skip']} MUST missing (unsupported)")
    if bad["disabled"]:
        parts.append(f"{bad['disabled']} MUST disabled")
    if not musts:
        parts.append("no MUST requirement in the profile")
    return False, "does not conform: " + ", ".join(parts)


@dataclass(frozen=True)
class RunResults:
    profile: str
    target: Mapping[str, Any]
    started: datetime
    finished: datetime
    requirements: tuple[RequirementResult, ...]
    only: tuple[str, ...] = ()
    collection_errors: tuple[CollectionError, ...] = ()
    notes: tuple[str, ...] = ()
    harness: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.requirements, len(self.collection_errors))

    @property
    def conforms(self) -> bool:
        return verdict_for(self.requirements)[0] and not self.collection_errors

    def to_dict(self) -> dict[str, Any]:
        conforms, verdict = verdict_for(self.requirements)
        if self.collection_errors:
            conforms = False
            verdict += f" ({len(self.collection_errors)} collection error(s))"
        in_profile = [r for r in self.requirements if r.in_profile]
        tests = [t for r in self.requirements for t in r.tests]
        unique_tests = {t.nodeid: t for t in tests}
        return {
            "schema": SCHEMA,
            "harness": dict(self.harness),
            "profile": self.profile,
            "target": dict(self.target),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "duration": round((self.finished - self.started).total_seconds(), 3),
            "only": list(self.only),
            "conforms": conforms,
            "verdict": verdict,
            "conformance_rule": CONFORMANCE_RULE,
            "exit_code": self.exit_code,
            "counts": _counts(r.status for r in in_profile),
            "must_counts": _counts(r.status for r in in_profile if r.requirement.is_must),
            "should_counts": _counts(r.status for r in in_profile if not r.requirement.is_must),
            "test_counts": _counts(t.status for t in unique_tests.values()),
            "areas": _areas(in_profile),
            "requirements": [r.to_dict() for r in self.requirements],
            "collection_errors": [c.to_dict() for c in self.collection_errors],
            "notes": list(self.notes),
            "artifacts": dict(self.artifacts),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _counts(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for s in statuses:
        counts[s] += 1
    return counts


def _areas(results: Sequence[RequirementResult]) -> dict[str, dict[str, Any]]:
    """The per-capability matrix: each area's worst status and its counts."""
    areas: dict[str, list[RequirementResult]] = {}
    for r in results:
        areas.setdefault(r.requirement.area, []).append(r)
    return {
        name: {"status": worst(r.status for r in rs), "counts": _counts(r.status for r in rs)}
        for name, rs in areas.items()
    }


def harness_info(repo_dir: Path | None = None) -> dict[str, Any]:
    """Harness version, git commit (when run from a checkout) and runtime versions."""
    import pytest

    return {
        "name": "atconform",
        "version": conformance.__version__,
        "commit": git_commit(repo_dir or Path(conformance.__file__).resolve().parent.parent),
        "python": platform.python_version(),
        "pytest": pytest.__version__,
    }


def git_commit(repo_dir: Path) -> str | None:
    """The checkout's HEAD commit, or None outside a git checkout (read-only)."""
    if not (repo_dir / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(repo_dir), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def write_results_json(path: Path, results: RunResults | Mapping[str, Any]) -> dict[str, Any]:
    data = results.to_dict() if isinstance(results, RunResults) else dict(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def load_results_json(path: Path) -> dict[str, Any]:
    """Read a run's results.json (for `atconform report`); ValueError when it is not one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not an atconform results file ({SCHEMA})")
    return data
