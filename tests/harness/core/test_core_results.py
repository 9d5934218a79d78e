"""The results model: worst-of, per-requirement verdicts, exit codes and the results.json shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conformance.catalogue import Requirement
from conformance.report.results import (
    SCHEMA,
    STATUSES,
    CollectionError,
    Measurement,
    RequirementResult,
    RunResults,
    TestResult,
    exit_code_for,
    load_results_json,
    requirement_status,
    worst,
    write_results_json,
)

MUST = Requirement("A-01", "MUST", "Area A", ("identity",), "x.md", "must thing", "The thing MUST.")
SHOULD = Requirement(
    "B-01", "SHOULD", "Area B", ("identity",), "x.md", "should thing", "It SHOULD."
)


def t(status: str, message: str = "", nodeid: str = "t.py::x") -> TestResult:
    return TestResult(nodeid, status, 0.5, message, ("A-01",))


def test_worst_order() -> None:
    assert worst([]) is None
    assert worst(["disabled", "skip"]) == "skip"
    assert worst(["skip", "pass"]) == "pass"
    assert worst(["pass", "fail"]) == "fail"
    assert worst(["fail", "error", "pass"]) == "error"
    assert STATUSES == ("disabled", "skip", "pass", "fail", "error")
    with pytest.raises(ValueError):
        worst(["passed"])


def test_requirement_status() -> None:
    assert requirement_status(MUST, [], selected=True) == ("error", "no test")
    assert requirement_status(MUST, [t("fail")], selected=False) == (
        "disabled",
        "not selected (--only)",
    )
    assert requirement_status(MUST, [t("pass"), t("fail", "boom")], selected=True) == (
        "fail",
        "boom",
    )
    assert requirement_status(MUST, [t("skip", "no feature")], selected=True) == (
        "skip",
        "missing feature: no feature",
    )
    assert requirement_status(SHOULD, [t("skip", "no feature")], selected=True) == (
        "skip",
        "no feature",
    )


def rr(req: Requirement, status: str, in_profile: bool = True) -> RequirementResult:
    return RequirementResult(req, status, "", in_profile, (t(status),))


@pytest.mark.parametrize(
    ("must", "should", "code"),
    [
        ("pass", "fail", 0),  # SHOULDs never decide the exit code
        ("pass", "error", 0),
        ("fail", "pass", 1),
        ("skip", "pass", 1),  # a missing MUST feature is not a pass
        ("error", "pass", 3),
        ("disabled", "pass", 0),
    ],
)
def test_exit_codes(must: str, should: str, code: int) -> None:
    assert exit_code_for([rr(MUST, must), rr(SHOULD, should)]) == code


def test_requirements_outside_the_profile_do_not_decide() -> None:
    assert exit_code_for([rr(MUST, "pass"), rr(MUST, "fail", in_profile=False)]) == 0
    assert exit_code_for([rr(MUST, "pass")], collection_errors=1) == 3


def _results(**overrides: object) -> RunResults:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    base: dict[str, object] = {
        "profile": "identity",
        "target": {"name": "stub", "embedded": False},
        "started": started,
        "finished": started + timedelta(seconds=12.5),
        "requirements": (
            RequirementResult(
                MUST,
                "pass",
                "",
                True,
                (TestResult("s/test_a.py::test_a", "pass", 1.25, "", ("A-01",), ("ex1",), 3),),
                (Measurement("clock offset", 0.2, "s", "s/test_a.py::test_a", ("A-01",)),),
            ),
            RequirementResult(SHOULD, "skip", "optional", True, (t("skip", "optional"),)),
        ),
        "harness": {"name": "atconform", "version": "0.1.0", "commit": None},
    }
    base.update(overrides)
    return RunResults(**base)  # type: ignore[arg-type]


def test_results_json_shape(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results_json(path, _results())
    data = load_results_json(path)
    assert data["schema"] == SCHEMA
    assert set(data) >= {
        "harness",
        "profile",
        "target",
        "started",
        "finished",
        "duration",
        "only",
        "conforms",
        "verdict",
        "conformance_rule",
        "exit_code",
        "counts",
        "must_counts",
        "should_counts",
        "test_counts",
        "areas",
        "requirements",
        "collection_errors",
        "notes",
        "artifacts",
    }
    assert data["started"] == "2026-01-02T03:04:05Z" and data["duration"] == 12.5
    assert data["conforms"] is True and data["exit_code"] == 0
    assert data["verdict"] == "conforms: all 1 MUST requirements pass"
    assert "skipped MUST" in data["conformance_rule"]
    assert data["counts"] == {"disabled": 0, "skip": 1, "pass": 1, "fail": 0, "error": 0}
    assert data["must_counts"]["pass"] == 1 and data["should_counts"]["skip"] == 1
    assert data["areas"] == {
        "Area A": {
            "status": "pass",
            "counts": {"disabled": 0, "skip": 0, "pass": 1, "fail": 0, "error": 0},
        },
        "Area B": {
            "status": "skip",
            "counts": {"disabled": 0, "skip": 1, "pass": 0, "fail": 0, "error": 0},
        },
    }
    req = data["requirements"][0]
    assert {
        k: req[k]
        for k in ("id", "level", "area", "title", "text", "source", "in_profile", "status")
    } == {
        "id": "A-01",
        "level": "MUST",
        "area": "Area A",
        "title": "must thing",
        "text": "The thing MUST.",
        "source": "x.md",
        "in_profile": True,
        "status": "pass",
    }
    assert req["tests"][0] == {
        "nodeid": "s/test_a.py::test_a",
        "status": "pass",
        "duration": 1.25,
        "message": "",
        "requirements": ["A-01"],
        "evidence": ["ex1"],
        "evidence_total": 3,
        "failure": None,
    }
    assert req["measurements"] == [
        {
            "name": "clock offset",
            "value": 0.2,
            "unit": "s",
            "test": "s/test_a.py::test_a",
            "requirements": ["A-01"],
            "note": "",
        }
    ]
    json.dumps(data)  # plain JSON throughout


def test_verdict_names_what_is_missing() -> None:
    failing = _results(
        requirements=(
            rr(MUST, "fail"),
            rr(Requirement("A-02", "MUST", "A", ("identity",), "x", "t", "x"), "skip"),
        ),
        collection_errors=(CollectionError("s/test_b.py", "unknown requirement ID"),),
    ).to_dict()
    assert failing["conforms"] is False
    assert failing["verdict"] == (
        "does not conform: 1 MUST failed, 1 MUST missing (unsupported) (1 collection error(s))"
    )
    assert failing["exit_code"] == 3


def test_load_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not an atconform results file"):
        load_results_json(path)
