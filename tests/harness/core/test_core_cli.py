"""`atconform` exit codes and one-line answers to bad input (H-CLI-02, H-CLI-04), and whole
`verify` runs against a stub target with synthetic suites."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.cli import main

pytestmark = pytest.mark.usefixtures("no_plugin_autoload")

PASSING = """
import pytest

@pytest.mark.requirement("XRPC-01")
def test_routing(target, http):
    assert http.get(target.identity.pds + "/xrpc/_health").status_code == 200
"""

MIXED = """
import pytest
from conformance.checks.base import Failure, require

@pytest.mark.requirement("XRPC-01")
def test_routing(target, http):
    assert http.get(target.identity.pds + "/xrpc/_health").status_code == 200

@pytest.mark.requirement("XRPC-02")
def test_envelope(target, http):
    r = http.get(target.identity.pds + "/xrpc/com.example.nothing")
    require(Failure("XRPC-02", "wrong envelope", "deliberately failing", (r,)))

@pytest.mark.requirement("CLOCK-01")
def test_clock(measure):
    measure("clock offset pds", 0.004, "s")
"""


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("atconform: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def suites(write_suite: Callable[..., Path]) -> Path:
    return write_suite(identity=PASSING)


@pytest.fixture
def stub_target(write_target: Callable[[str], Path], stub_url: str) -> Path:
    return write_target(
        f"""
        name = "stub"
        [identity]
        pds = "{stub_url}"
        plc = "{stub_url}"
        """
    )


# --- bad input: one line, the right exit code -------------------------------------------------


def test_missing_target_file(tmp_path: Path, suites: Path) -> None:
    code, out, err = run_cli(
        "verify", "--target", str(tmp_path / "missing.toml"), "--suites-dir", str(suites)
    )
    assert code == 2 and out == ""
    assert_one_line_error(err, "missing.toml does not exist")


def test_unknown_field(write_target, suites: Path) -> None:
    target = write_target('name = "x"\n[identity]\npds = "http://127.0.0.1:1"\nplcc = "x"\n')
    code, _, err = run_cli("verify", "--target", str(target), "--suites-dir", str(suites))
    assert code == 2
    assert_one_line_error(err, "identity.plcc: unknown field", "did you mean 'plc'?")


def test_missing_secret_env_var(
    write_target, suites: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONFORM_TEST_PASSWORD_XYZ", raising=False)
    target = write_target(
        """
        name = "x"
        [identity]
        pds = "http://127.0.0.1:1"
        plc = "http://127.0.0.1:1"
        [[accounts]]
        handle = "a.example.com"
        password_env = "CONFORM_TEST_PASSWORD_XYZ"
        """
    )
    code, _, err = run_cli("verify", "--target", str(target), "--suites-dir", str(suites))
    assert code == 2
    assert_one_line_error(err, "environment variable CONFORM_TEST_PASSWORD_XYZ is not set")


def test_unreachable_url(write_target, suites: Path, closed_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    target = write_target(f'name = "x"\n[identity]\npds = "{url}"\nplc = "{url}"\n')
    code, _, err = run_cli(
        "verify",
        "--target",
        str(target),
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert code == 3
    assert_one_line_error(err, f"cannot reach identity.pds at {url}")
    assert not (tmp_path / "r").exists()  # nothing ran, no run directory


def test_unknown_profile() -> None:
    code, _, err = run_cli("verify", "--profile", "nope")
    assert code == 2
    assert_one_line_error(err, "verify: argument --profile: invalid choice: 'nope'")


def test_profile_without_suites(suites: Path) -> None:
    code, _, err = run_cli("verify", "--profile", "stratos", "--suites-dir", str(suites))
    assert code == 2
    assert_one_line_error(err, "profile stratos is not implemented yet")


def test_unknown_requirement_in_only(suites: Path) -> None:
    code, _, err = run_cli("verify", "--only", "DPOP-6", "--suites-dir", str(suites))
    assert code == 2
    assert_one_line_error(err, "unknown requirement ID 'DPOP-6'", "did you mean DPOP-06?")


def test_only_outside_profile(suites: Path) -> None:
    code, _, err = run_cli(
        "verify", "--profile", "identity", "--only", "CORS-01", "--suites-dir", str(suites)
    )
    assert code == 2
    assert_one_line_error(err, "CORS-01 is not in profile identity")


def test_fault_needs_the_embedded_default(stub_target: Path, suites: Path) -> None:
    code, _, err = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--fault",
        "boundary-403",
        "--suites-dir",
        str(suites),
    )
    assert code == 2
    assert_one_line_error(err, "--fault applies only to the embedded default")


@pytest.mark.parametrize(
    "command", [["fuzz", "--service", "pds"], ["load", "stratos_writes", "--users", "3"]]
)
def test_later_commands_say_not_implemented(command: list[str]) -> None:
    code, _, err = run_cli(*command)
    assert code == 2
    assert_one_line_error(err, f"atconform {command[0]} is not implemented yet")


@pytest.mark.parametrize(
    "command", [["serve", "--runtime", "docker"], ["verify", "--runtime", "docker"]]
)
def test_docker_runtime_without_an_engine(
    command: list[str], suites: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    extra = ["--suites-dir", str(suites), "--report-dir", str(tmp_path / "r")]
    code, _, err = run_cli(*command, *(extra if command[0] == "verify" else []))
    assert code == 3
    assert_one_line_error(err, "no Docker engine reachable at unix://", "--runtime process")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--skew-clock", "pds"], "--skew-clock: expected SERVICE=SECONDS, got 'pds'"),
        (["--skew-clock", "pds=soon"], "--skew-clock: pds: 'soon' is not a number of seconds"),
        (["--skew-clock", "stratos=5"], "--skew-clock: stratos is not started for this profile"),
        (["--skew-clock", "pds=1e9"], "--skew-clock: pds: keep the skew within"),
    ],
)
def test_bad_clock_skew(option: list[str], message: str, suites: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "verify", "--profile", "identity", *option, "--suites-dir", str(suites),
        "--report-dir", str(tmp_path / "r"),
    )
    assert code == 2
    assert_one_line_error(err, message)
    assert not (tmp_path / "r").exists()  # refused before anything ran


def test_runtime_options_need_the_embedded_default(
    stub_target: Path, suites: Path, tmp_path: Path
) -> None:
    for option in (["--runtime", "docker"], ["--skew-clock", "pds=3"]):
        code, _, err = run_cli(
            "verify", "--target", str(stub_target), *option, "--suites-dir", str(suites)
        )
        assert code == 2
        assert_one_line_error(err, "only to the embedded default")


def test_bad_ports_for_serve() -> None:
    code, _, err = run_cli("serve", "--ports", "pds=notaport")
    assert code == 2
    assert_one_line_error(err, "--ports: pds: 'notaport' is not a port number")


def test_no_command_and_unknown_option() -> None:
    assert run_cli()[0] == 2
    code, _, err = run_cli("verify", "--frobnicate")
    assert code == 2
    assert_one_line_error(err, "unrecognized arguments: --frobnicate")


def test_internal_errors_are_one_line_without_debug(
    monkeypatch: pytest.MonkeyPatch, suites: Path
) -> None:
    import conformance.cli as cli

    def boom() -> None:
        raise RuntimeError("catalogue exploded\nsecond line")

    monkeypatch.setattr(cli, "load_catalogue", boom)
    code, _, err = run_cli("verify", "--suites-dir", str(suites))
    assert code == 3
    assert err.splitlines() == [
        "atconform: internal error: RuntimeError: catalogue exploded",
        "(run again with --debug for the traceback)",
    ]
    code, _, err = run_cli("verify", "--debug", "--suites-dir", str(suites))
    assert code == 3 and "Traceback" in err


# --- whole runs -------------------------------------------------------------------------------


def run_dir_of(report_dir: Path) -> Path:
    (run_dir,) = list(report_dir.iterdir())
    return run_dir


def test_verify_passing_run(stub_target: Path, suites: Path, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    code, out, err = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--profile",
        "identity",
        "--only",
        "XRPC-01",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(report_dir),
    )
    assert code == 0, err
    run_dir = run_dir_of(report_dir)
    assert run_dir.name.endswith("-stub-identity")
    assert {p.name for p in run_dir.iterdir()} >= {
        "report.html",
        "results.json",
        "junit.xml",
        "allure-results",
        "evidence",
        "SHA256SUMS",
    }
    assert any((run_dir / "allure-results").iterdir())
    assert "XRPC-01" in out and f"report: {run_dir / 'report.html'}" in out
    data = json.loads((run_dir / "results.json").read_text())
    assert data["exit_code"] == 0 and data["only"] == ["XRPC-01"]
    assert data["target"]["name"] == "stub"
    assert run_cli("report", "--verify", str(run_dir))[0] == 0


def test_verify_exit_code_1_on_a_failed_must(
    stub_target: Path, write_suite, tmp_path: Path
) -> None:
    suites = write_suite(identity=MIXED)
    code, out, _ = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--only",
        "XRPC-01",
        "XRPC-02",
        "CLOCK-01",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert code == 1
    assert "✗ FAIL" in out and "XRPC-02" in out
    data = json.loads((run_dir_of(tmp_path / "r") / "results.json").read_text())
    statuses = {r["id"]: r["status"] for r in data["requirements"]}
    assert (statuses["XRPC-01"], statuses["XRPC-02"], statuses["CLOCK-01"]) == (
        "pass",
        "fail",
        "pass",
    )
    clock = next(r for r in data["requirements"] if r["id"] == "CLOCK-01")
    assert clock["measurements"][0]["name"] == "clock offset pds"


def test_verify_exit_code_3_when_requirements_have_no_test(
    stub_target: Path, suites: Path, tmp_path: Path
) -> None:
    code, out, _ = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--profile",
        "identity",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert code == 3
    assert "no test" in out


def test_verify_json_and_quiet(stub_target: Path, suites: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--only",
        "XRPC-01",
        "--json",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "j"),
    )
    assert code == 0
    doc = json.loads(out)  # stdout is exactly one JSON document
    assert doc["schema"] == "atconform-results/1" and doc["exit_code"] == 0
    assert Path(doc["report"]).is_file() and doc["profile"] == "all"
    assert any("have no suites yet" in note for note in doc["notes"])

    code, out, _ = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--only",
        "XRPC-01",
        "--quiet",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "q"),
    )
    assert code == 0
    lines = out.splitlines()
    assert (
        len(lines) == 2
        and lines[0].startswith("does not conform")
        and lines[1].startswith("report: ")
    )


def test_no_secret_reaches_any_artifact(
    write_target, write_suite, stub_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H-REP-01: the account password and a token the test registers appear in no artifact."""
    password = "pw-Zq81-never-in-reports"
    token = "tok-8c1f-registered-at-runtime"
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("CONFORM_TEST_SECRET_PW", password)
    monkeypatch.setenv("ATCONFORM_SECRET_LEDGER", str(ledger))
    target = write_target(
        f"""
        name = "secrets"
        [identity]
        pds = "{stub_url}"
        plc = "{stub_url}"
        [[accounts]]
        handle = "alice.example.com"
        password_env = "CONFORM_TEST_SECRET_PW"
        """
    )
    suites = write_suite(
        identity=f"""
        import pytest

        @pytest.mark.requirement("PDS-03")
        def test_session(target, http, redactor):
            password = target.password(target.accounts[0])
            redactor.add("{token}")
            body = {{"identifier": "alice", "password": password}}
            r = http.post(target.identity.pds + "/echo", json=body, headers={{"x-note": "{token}"}})
            assert r.status_code == 500, f"login with {{password}} and {token} answered {{r.text}}"
        """
    )
    report_dir = tmp_path / "reports"
    code, out, _ = run_cli(
        "verify",
        "--target",
        str(target),
        "--only",
        "PDS-03",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(report_dir),
    )
    assert code == 1
    assert password not in out and token not in out
    ledger_values = ledger.read_text().split()
    assert password in ledger_values and token in ledger_values
    run_dir = run_dir_of(report_dir)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > 5
    for path in files:
        data = path.read_bytes()
        for secret in ledger_values:
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    assert run_cli("report", "--verify", str(run_dir))[0] == 0  # scrubbed before the checksums


def test_requirements_command_maps_tests(write_suite) -> None:
    suites = write_suite(identity=MIXED)
    code, out, _ = run_cli(
        "requirements", "--profile", "identity", "--format", "json", "--suites-dir", str(suites)
    )
    assert code == 0
    doc = {r["id"]: r for r in json.loads(out)}
    assert len(doc) == 29
    assert [t.split("::")[1] for t in doc["XRPC-02"]["tests"]] == ["test_envelope"]
    assert doc["DPOP-01"]["tests"] == []
    assert doc["XRPC-01"]["level"] == "MUST" and doc["XRPC-01"]["text"]
    code, out, _ = run_cli("requirements", "--suites-dir", str(suites))
    assert code == 0 and "XRPC-02" in out and "CORS-04" in out


def test_report_rebuild_and_verify(stub_target: Path, suites: Path, tmp_path: Path) -> None:
    run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--only",
        "XRPC-01",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "r"),
    )
    run_dir = run_dir_of(tmp_path / "r")
    (run_dir / "report.html").unlink()
    code, out, _ = run_cli("report", str(run_dir))
    assert code == 0 and (run_dir / "report.html").is_file() and out.startswith("report: ")
    assert run_cli("report", "--verify", str(run_dir)) == (
        0,
        f"ok: {sum(1 for p in run_dir.rglob('*') if p.is_file()) - 1} files match SHA256SUMS\n",
        "",
    )

    (run_dir / "results.json").write_text("{}")
    code, _, err = run_cli("report", "--verify", str(run_dir))
    assert code == 1 and "modified: results.json" in err
    code, _, err = run_cli("report", str(run_dir))
    assert code == 2
    assert_one_line_error(err, "is not an atconform results file")
    code, _, err = run_cli("report", str(tmp_path / "nowhere"))
    assert code == 2
    assert_one_line_error(err, "is not a directory")


def test_console_script_entry_point(tmp_path: Path) -> None:
    """`python -m conformance` behaves like the `atconform` script (separate process)."""
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "verify", "--target", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_serve_port_taken_is_one_line() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, _, err = run_cli("serve", "--ports", f"pds={port}")
    assert code == 2
    assert_one_line_error(
        err, f"port {port} is already in use (pds); choose another with --ports pds=PORT"
    )


def test_suite_conftest_fixtures_are_loaded(stub_target: Path, write_suite, tmp_path: Path) -> None:
    suites = write_suite(
        identity="""
        import pytest

        @pytest.mark.requirement("XRPC-01")
        def test_uses_suite_fixture(suite_fixture):
            assert suite_fixture == "from the suite's conftest"
        """
    )
    (suites / "identity" / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef suite_fixture():\n"
        '    return "from the suite\'s conftest"\n'
    )
    code, _, _ = run_cli(
        "verify",
        "--target",
        str(stub_target),
        "--only",
        "XRPC-01",
        "--suites-dir",
        str(suites),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert code == 0
