"""The pytest plugin: outcomes -> statuses, worst-of roll-up, --only, collection errors,
evidence, measurements, fixtures and live progress — run on tiny synthetic suites."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from conformance.catalogue import Catalogue, Requirement
from conformance.evidence import ExchangeRecorder
from conformance.plugin import ConformancePlugin
from conformance.redact import Redactor
from conformance.report.results import RunResults
from conformance.target import embedded_target

pytestmark = pytest.mark.usefixtures("no_plugin_autoload")


def _req(req_id: str, level: str = "MUST") -> Requirement:
    return Requirement(req_id, level, "Area", ("identity",), "test.md", f"title {req_id}", "text")


CATALOGUE = Catalogue((*(_req(f"T-{i:02d}") for i in range(1, 10)), _req("S-01", "SHOULD")))


def make_plugin(
    *,
    only: tuple[str, ...] = (),
    mode: str = "normal",
    run_dir: Path | None = None,
    max_evidence: int = 20,
    stub_url: str = "http://127.0.0.1:9",
) -> tuple[ConformancePlugin, io.StringIO]:
    out = io.StringIO()
    redactor = Redactor(None)
    plugin = ConformancePlugin(
        target=embedded_target(stub_url),
        redactor=redactor,
        recorder=ExchangeRecorder(redactor),
        profile="identity",
        catalogue=CATALOGUE,
        only=only,
        run_dir=run_dir,
        mode=mode,
        console=Console(file=out, width=200, soft_wrap=True, color_system=None),
        max_evidence_per_test=max_evidence,
    )
    return plugin, out


def run(
    pytester: pytest.Pytester, plugin: ConformancePlugin, source: str, *args: str
) -> RunResults:
    pytester.makepyfile(test_synthetic=source)
    pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--continue-on-collection-errors", *args, plugins=[plugin]
    )
    assert plugin.results is not None
    return plugin.results


def statuses(results: RunResults) -> dict[str, str]:
    return {r.requirement.id: r.status for r in results.requirements}


def test_status_of_each_kind_of_outcome(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin()
    results = run(
        pytester,
        plugin,
        """
        import pytest
        from conformance.checks.base import Failure, require

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("cannot provision")

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("cleanup failed")

        @pytest.mark.requirement("T-01")
        def test_pass():
            pass

        @pytest.mark.requirement("T-02")
        def test_assert():
            assert 1 == 2, "target said 2"

        @pytest.mark.requirement("T-03")
        def test_check_failed():
            require(Failure("T-03", "wrong status", "expected 401, got 200"))

        @pytest.mark.requirement("T-04")
        def test_exception():
            raise ConnectionError("target went away")

        @pytest.mark.requirement("T-05")
        def test_unsupported():
            pytest.skip("unsupported: MethodNotImplemented")

        @pytest.mark.requirement("T-06")
        def test_disabled():
            pytest.skip("disabled: no confidential client metadata URL in the profile")

        @pytest.mark.requirement("T-07")
        def test_setup_error(broken_setup):
            pass

        @pytest.mark.requirement("T-08")
        def test_teardown_error(broken_teardown):
            pass

        @pytest.mark.requirement("T-09")
        def test_pytest_fail():
            pytest.fail("explicit failure")
        """,
    )
    assert statuses(results) == {
        "T-01": "pass",
        "T-02": "fail",
        "T-03": "fail",
        "T-04": "error",
        "T-05": "skip",
        "T-06": "disabled",
        "T-07": "error",
        "T-08": "error",
        "T-09": "fail",
        "S-01": "error",  # no test at all: a catalogue defect
    }
    by_id = {r.requirement.id: r for r in results.requirements}
    assert by_id["T-02"].message.startswith("target said 2")
    assert by_id["T-03"].message == "[T-03] wrong status: expected 401, got 200"
    assert by_id["T-03"].tests[0].failure == {
        "requirement": "T-03",
        "title": "wrong status",
        "message": "expected 401, got 200",
    }
    assert by_id["T-04"].message == "ConnectionError: target went away"
    assert by_id["T-05"].message == "missing feature: MethodNotImplemented"
    assert by_id["T-06"].message == "no confidential client metadata URL in the profile"
    assert by_id["T-07"].message == "setup error: RuntimeError: cannot provision"
    assert by_id["T-08"].message == "teardown error: RuntimeError: cleanup failed"
    assert by_id["S-01"].message == "no test"
    assert results.exit_code == 3


def test_worst_of_several_tests(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin()
    results = run(
        pytester,
        plugin,
        """
        import pytest

        @pytest.mark.requirement("T-01")
        def test_a(): pass
        @pytest.mark.requirement("T-01")
        def test_b(): assert False, "bad"

        @pytest.mark.requirement("T-02")
        def test_c(): pass
        @pytest.mark.requirement("T-02")
        def test_d(): pytest.skip("unsupported: optional")

        @pytest.mark.requirement("T-03")
        def test_e(): pytest.skip("disabled: off")
        @pytest.mark.requirement("T-03")
        def test_f(): pytest.skip("unsupported: optional")

        @pytest.mark.requirement("T-04")
        def test_g(): assert False
        @pytest.mark.requirement("T-04")
        def test_h(): raise KeyError("x")

        @pytest.mark.requirement("T-05", "T-06")
        def test_two_requirements(): pass

        @pytest.mark.requirement("T-07")
        class TestClassMarker:
            def test_i(self): pass
            @pytest.mark.requirement("T-08")
            def test_j(self): assert False
        """,
    )
    s = statuses(results)
    assert (s["T-01"], s["T-02"], s["T-03"], s["T-04"]) == ("fail", "pass", "skip", "error")
    assert (s["T-05"], s["T-06"]) == ("pass", "pass")
    # The class marker applies to both; test_j also names T-08.
    assert (s["T-07"], s["T-08"]) == ("fail", "fail")
    t01 = next(r for r in results.requirements if r.requirement.id == "T-01")
    assert [t.status for t in t01.tests] == ["pass", "fail"]
    assert t01.message.splitlines()[0] == "bad"  # assertion rewriting adds the explanation


def test_only_deselects_and_reports_disabled(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin(only=("T-02",))
    results = run(
        pytester,
        plugin,
        """
        import pytest

        @pytest.mark.requirement("T-01")
        def test_a(): raise AssertionError("must not run")

        @pytest.mark.requirement("T-02")
        def test_b(): pass
        """,
    )
    s = statuses(results)
    assert s["T-02"] == "pass"
    assert all(v == "disabled" for k, v in s.items() if k != "T-02")
    t01 = next(r for r in results.requirements if r.requirement.id == "T-01")
    assert t01.message == "not selected (--only)" and t01.tests == ()
    assert results.exit_code == 0  # only the selected MUSTs count for the exit code
    assert not results.conforms  # but disabled MUSTs mean the run cannot claim conformance


def test_all_pass_conforms(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin(only=("T-01", "T-02"))
    results = run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-01")
        def test_a(): pass
        @pytest.mark.requirement("T-02")
        def test_b(): pytest.skip("unsupported: nope")
        """,
    )
    assert results.exit_code == 1  # a MUST the target lacks is not a pass


def test_unknown_requirement_id_is_a_collection_error(pytester: pytest.Pytester) -> None:
    plugin, out = make_plugin()
    pytester.makepyfile(
        test_ok="""
        import pytest
        @pytest.mark.requirement("T-01")
        def test_a(): pass
        """
    )
    results = run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-1")
        def test_typo(): pass
        """,
    )
    assert len(results.collection_errors) == 1
    error = results.collection_errors[0]
    assert error.nodeid == "test_synthetic.py"
    assert "unknown requirement ID 'T-1'" in error.message
    assert "did you mean" in error.message
    assert statuses(results)["T-01"] == "pass"  # other modules still ran
    assert results.exit_code == 3
    assert "collection error test_synthetic.py" in out.getvalue()


def test_test_without_requirement_is_a_collection_error(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin()
    results = run(pytester, plugin, "def test_orphan(): pass\n")
    assert "no @pytest.mark.requirement" in results.collection_errors[0].message


def test_collection_error_is_a_real_pytest_collection_error(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin()
    pytester.makepyfile(
        test_bad='import pytest\n@pytest.mark.requirement("NOPE-1")\ndef test_x(): pass\n'
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", plugins=[plugin])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting test_bad.py*", "*unknown requirement ID 'NOPE-1'*"]
    )


def test_fixtures_evidence_and_measurements(pytester: pytest.Pytester, stub_url: str) -> None:
    plugin, _ = make_plugin(stub_url=stub_url, max_evidence=3)
    results = run(
        pytester,
        plugin,
        """
        import httpx
        import pytest
        from conformance.checks.base import Failure, require

        @pytest.mark.requirement("T-01")
        def test_fixtures(target, redactor, recorder, http, run_info, measure, record_measurement):
            assert target.embedded and run_info.profile == "identity"
            assert http.timeout.read == 30 and http.follow_redirects is False
            assert measure is record_measurement
            measure("clock offset", -0.25, "s", note="Date header vs harness clock")
            measure("p95 latency", 12, "ms", requirement="T-02")
            r = http.get(target.identity.pds + "/xrpc/_health")
            assert r.status_code == 200

        @pytest.mark.requirement("T-02")
        def test_failure_evidence(target, http):
            pds = target.identity.pds
            for i in range(5):
                http.get(f"{pds}/xrpc/other.{i}")
            deciding = http.get(pds + "/xrpc/deciding")
            http.get(pds + "/xrpc/after")
            with httpx.Client() as plain:  # no recorder hooks: evidence is still captured
                unhooked = plain.get(pds + "/xrpc/unhooked")
            require(Failure("T-02", "bad", "wrong", (deciding, unhooked)))
        """,
    )
    by_id = {r.requirement.id: r for r in results.requirements}
    assert by_id["T-01"].status == "pass"
    assert [(m.name, m.value, m.unit, m.note) for m in by_id["T-01"].measurements] == [
        ("clock offset", -0.25, "s", "Date header vs harness clock")
    ]
    assert [m.name for m in by_id["T-02"].measurements] == ["p95 latency"]
    t1 = by_id["T-01"].tests[0]
    assert len(t1.evidence) == 1 and t1.evidence_total == 1

    t2 = by_id["T-02"].tests[0]
    exchanges = {e.id: e for e in plugin.recorder.exchanges()} | plugin._extra_exchanges
    urls = [exchanges[i].request.url.rsplit("/", 1)[1] for i in t2.evidence]
    # Deciding exchanges first (in the Failure's order), then the test's latest ones, capped at 3.
    assert urls == ["deciding", "unhooked", "after"]
    assert t2.evidence_total == 8
    assert all(exchanges[i].test_id == t2.nodeid for i in t2.evidence)


def test_secrets_in_messages_are_redacted(pytester: pytest.Pytester) -> None:
    plugin, _ = make_plugin()
    plugin.redactor.add("hunter2-password")
    results = run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-01")
        def test_leak(): assert False, "login with hunter2-password failed"
        @pytest.mark.requirement("T-02")
        def test_jwt(): raise ValueError("token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln rejected")
        """,
    )
    dumped = json.dumps(results.to_dict())
    assert "hunter2-password" not in dumped and "eyJhbGci" not in dumped
    assert "[redacted]" in dumped


def test_live_progress_lines(pytester: pytest.Pytester) -> None:
    plugin, out = make_plugin(only=("T-01", "T-02", "S-01"))
    run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-01")
        def test_a(): pass
        @pytest.mark.requirement("T-01")
        def test_b(): pass
        @pytest.mark.requirement("T-02")
        def test_c(): assert False, "no envelope"
        """,
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("atconform: profile identity, target embedded — 3 test(s)")
    t01 = [ln for ln in lines if " T-01 " in ln]
    assert len(t01) == 1  # one line per requirement, when its last test finishes
    assert t01[0].startswith("✓ PASS") and "MUST" in t01[0] and "title T-01" in t01[0]
    t02 = next(ln for ln in lines if " T-02 " in ln)
    assert t02.startswith("✗ FAIL") and "no envelope" in t02
    s01 = next(ln for ln in lines if " S-01 " in ln)
    assert s01.startswith("! ERROR") and "no test" in s01
    assert lines[-2].startswith("requirements: 1 pass, 1 fail, 1 error")
    assert lines[-1].startswith("does not conform")


@pytest.mark.parametrize("mode", ["quiet", "json"])
def test_quiet_and_json_modes_print_nothing(pytester: pytest.Pytester, mode: str) -> None:
    plugin, out = make_plugin(mode=mode)
    run(pytester, plugin, 'import pytest\n@pytest.mark.requirement("T-01")\ndef test_a(): pass\n')
    assert out.getvalue() == ""


def test_artifacts_written_to_run_dir(
    pytester: pytest.Pytester, tmp_path: Path, stub_url: str
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    plugin, _ = make_plugin(run_dir=run_dir, stub_url=stub_url)
    run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-01")
        def test_a(target, http): http.get(target.identity.pds + "/xrpc/_health")
        """,
    )
    assert (run_dir / "report.html").is_file()
    data = json.loads((run_dir / "results.json").read_text())
    assert data["schema"] == "atconform-results/1"
    lines = (run_dir / "evidence" / "exchanges.jsonl").read_text().splitlines()
    assert (
        len(lines) == 1
        and json.loads(lines[0])["id"] == data["requirements"][0]["tests"][0]["evidence"][0]
    )


def test_plugin_module_usable_with_dash_p(
    pytester: pytest.Pytester, write_target, tmp_path: Path
) -> None:
    target = write_target(
        """
        name = "dash-p"
        [identity]
        pds = "http://127.0.0.1:9"
        plc = "http://127.0.0.1:9"
        """
    )
    pytester.makepyfile(
        test_p="""
        import pytest
        @pytest.mark.requirement("XRPC-01")
        def test_a(target):
            assert target.name == "dash-p"
        """
    )
    run_dir = tmp_path / "dash-p-run"
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "conformance.plugin",
        "--atconform-target",
        str(target),
        "--atconform-profile",
        "identity",
        "--atconform-only",
        "XRPC-01",
        "--atconform-run-dir",
        str(run_dir),
    )
    result.assert_outcomes(passed=1)
    data = json.loads((run_dir / "results.json").read_text())
    assert {r["id"]: r["status"] for r in data["requirements"]}["XRPC-01"] == "pass"
    assert (run_dir / "SHA256SUMS").is_file()


@pytest.mark.parametrize("mode", ["normal", "quiet"])
def test_progress_bar_for_long_phases(pytester: pytest.Pytester, mode: str) -> None:
    plugin, out = make_plugin(mode=mode)
    results = run(
        pytester,
        plugin,
        """
        import pytest
        @pytest.mark.requirement("T-01")
        def test_wait(progress):
            with progress("waiting out the rate-limit window", total=3) as advance:
                for _ in range(3):
                    advance(1)
        """,
    )
    assert statuses(results)["T-01"] == "pass"
    shown = "waiting out the rate-limit window" in out.getvalue()
    assert shown is (mode == "normal")
