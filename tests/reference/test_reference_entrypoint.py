"""``python -m reference_impl``: the image's entrypoint dispatcher (docs/docker.md, "The image"),
run as a subprocess exactly as the image runs it."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance.localserver import free_port
from conformance.runtime.process import SERVICE_MODULES

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["pds", "stratos", "stratos-appview", "hold", "atcr"]


def dispatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_impl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/ok": 200, "/broken": 500, "/moved": 302}.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/broken")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_services_lists_the_five_services_in_start_order() -> None:
    done = dispatch("services")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == SERVICES


def test_the_dispatcher_knows_the_services_the_harness_starts() -> None:
    # The Docker runtime passes the harness's service names; they must all dispatch.
    assert sorted(dispatch("services").stdout.split()) == sorted(SERVICE_MODULES)


@pytest.mark.parametrize("argv", [["nope"], ["reference_impl.pds"], ["--port", "1"]])
def test_an_unknown_service_is_one_line_and_exit_2(argv: list[str]) -> None:
    done = dispatch(*argv)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"unknown service {argv[0]!r}" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["services", "extra"], "services takes no arguments"),
        (["health"], "usage: health URL"),
        (["health", "http://a", "http://b"], "usage: health URL"),
        (["health", "ftp://127.0.0.1/x"], "expected an http(s) URL"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    done = dispatch(*argv)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr


def test_no_arguments_prints_usage_and_exits_2() -> None:
    done = dispatch()
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m reference_impl")
    assert "Traceback" not in done.stderr


def test_help_prints_usage_and_exits_0() -> None:
    done = dispatch("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m reference_impl")
    for name in SERVICES:
        assert name in done.stdout


def test_service_arguments_reach_the_service_unchanged() -> None:
    direct = subprocess.run(
        [sys.executable, "-m", "reference_impl.atcr.appview", "--list-faults"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    via = dispatch("atcr", "--list-faults")
    assert via.returncode == direct.returncode == 0, via.stderr
    assert via.stdout == direct.stdout
    assert via.stdout.strip() != ""


def test_a_bad_service_flag_is_the_service_s_own_usage_error() -> None:
    done = dispatch("pds", "--no-such-flag")
    assert done.returncode == 2
    assert "python -m reference_impl.pds: error: unrecognized arguments: --no-such-flag" in (
        done.stderr
    )


def test_health_is_0_for_200(http_server: str) -> None:
    done = dispatch("health", f"{http_server}/ok")
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""


@pytest.mark.parametrize(("path", "status"), [("/broken", 500), ("/missing", 404)])
def test_health_is_1_for_other_statuses(http_server: str, path: str, status: int) -> None:
    done = dispatch("health", f"{http_server}{path}")
    assert done.returncode == 1
    assert f"HTTP {status}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_health_judges_the_answer_after_a_redirect(http_server: str) -> None:
    # A redirect is followed (urllib does), and the final answer decides: 500 here.
    done = dispatch("health", f"{http_server}/moved")
    assert done.returncode == 1
    assert "HTTP 500" in done.stderr


def test_health_is_1_when_nothing_listens() -> None:
    port = free_port()
    done = dispatch("health", f"http://127.0.0.1:{port}/xrpc/_health")
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_service_started_through_the_dispatcher_answers_health(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "reference_impl", "pds", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--data-dir", str(tmp_path / "pds")]
    log = (tmp_path / "pds.log").open("wb")
    service = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        healthy = False
        for _ in range(120):  # the check itself waits up to 2 s per attempt when it hangs
            if service.poll() is not None:
                break
            if dispatch("health", f"{url}/xrpc/_health").returncode == 0:
                healthy = True
                break
            threading.Event().wait(0.25)
        log.flush()
        assert healthy, (tmp_path / "pds.log").read_text("utf-8", "replace")[-2000:]
    finally:
        service.terminate()
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()
    assert (tmp_path / "pds").is_dir()
