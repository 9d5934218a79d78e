"""ProcessRuntime against a stand-in service module (the reference PDS is written separately):
start, health, stop, kill/restart, a taken port, a service that dies or never gets healthy."""

from __future__ import annotations

import io
import signal
import socket
import textwrap
from pathlib import Path

import httpx
import pytest

from conformance.errors import ConfigError, HarnessError, UsageError
from conformance.runtime.process import (
    DEFAULT_PORTS,
    ProcessRuntime,
    ServiceSpec,
    parse_faults,
    parse_ports,
    pick_free_ports,
    reference_services,
    services_for,
)

# A service with the reference services' command line, built on the standard library only.
FAKE_SERVICE = """
import argparse, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--host"); p.add_argument("--port", type=int); p.add_argument("--data-dir")
p.add_argument("--fault", action="append", default=[])
a = p.parse_args()
os.makedirs(a.data_dir, exist_ok=True)
if "crash" in a.fault:
    print("fatal: cannot open database", flush=True)
    sys.exit(2)
print(f"listening on {a.host}:{a.port}", flush=True)

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        status = 503 if "never-healthy" in a.fault else 200
        body = json.dumps({"faults": a.fault, "data_dir": a.data_dir, "pid": os.getpid(),
                           "public_url": os.environ.get("PDS_PUBLIC_URL")}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer((a.host, a.port), H).serve_forever()
"""


@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pkg = tmp_path / "fakesvc"
    pkg.mkdir()
    (pkg / "fake_pds.py").write_text(textwrap.dedent(FAKE_SERVICE))
    monkeypatch.setenv("PYTHONPATH", str(pkg))
    return "fake_pds"


def spec(module: str, port: int, *faults: str, name: str = "pds") -> ServiceSpec:
    return ServiceSpec(
        name=name,
        module=module,
        port=port,
        env={"PDS_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        faults=faults,
    )


def runtime(tmp_path: Path, timeout: float = 15.0) -> ProcessRuntime:
    return ProcessRuntime(
        tmp_path / "data", tmp_path / "logs", startup_timeout=timeout, stop_grace=5.0
    )


def test_start_health_stop(tmp_path: Path, fake_module: str) -> None:
    port = pick_free_ports(["pds"])["pds"]
    rt = runtime(tmp_path)
    with rt:
        urls = rt.start([spec(fake_module, port, "seeded-fault")])
        assert urls == {"pds": f"http://127.0.0.1:{port}"}
        info = httpx.get(urls["pds"] + "/xrpc/_health").json()
        assert info["faults"] == ["seeded-fault"]
        assert info["data_dir"] == str(tmp_path / "data" / "pds")
        assert info["public_url"] == urls["pds"]
        assert rt.is_running("pds")
    # Stopped on leaving the block: nothing listens any more.
    assert not _accepts(port)
    assert "listening on 127.0.0.1" in (tmp_path / "logs" / "pds.log").read_text()


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_command_line(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    argv = rt.command(spec("reference_impl.pds", 2583, "boundary-403", "no-empty-commit"))
    assert argv[1:] == [
        "-m",
        "reference_impl.pds",
        "--host",
        "127.0.0.1",
        "--port",
        "2583",
        "--data-dir",
        str(tmp_path / "data" / "pds"),
        "--fault",
        "boundary-403",
        "--fault",
        "no-empty-commit",
    ]


def test_port_taken_message(tmp_path: Path, fake_module: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            runtime(tmp_path).start([spec(fake_module, port)])
    assert info.value.message == (
        f"port {port} is already in use (pds); choose another with --ports pds=PORT"
    )
    assert info.value.exit_code == 2
    assert not (tmp_path / "logs").exists()  # checked before anything started


def test_service_that_exits_during_startup(tmp_path: Path, fake_module: str) -> None:
    port = pick_free_ports(["pds"])["pds"]
    rt = runtime(tmp_path)
    with pytest.raises(HarnessError) as info:
        rt.start([spec(fake_module, port, "crash")])
    assert info.value.message.startswith("pds exited with code 2 while starting; see ")
    assert "fatal: cannot open database" in info.value.details
    assert info.value.exit_code == 2  # a service's exit 2 is its usage error (bad --fault ...)
    assert rt.urls == {}


def test_service_that_never_gets_healthy(tmp_path: Path, fake_module: str) -> None:
    port = pick_free_ports(["pds"])["pds"]
    rt = runtime(tmp_path, timeout=1.5)
    with pytest.raises(
        HarnessError, match=r"pds did not answer /xrpc/_health with 200 within 1.5 s"
    ):
        rt.start([spec(fake_module, port, "never-healthy")])
    assert rt.urls == {} and not _accepts(port)  # the half-started service was stopped


def test_kill_and_restart(tmp_path: Path, fake_module: str) -> None:
    port = pick_free_ports(["pds"])["pds"]
    with runtime(tmp_path) as rt:
        url = rt.start([spec(fake_module, port)])["pds"]
        first = httpx.get(url + "/xrpc/_health").json()["pid"]
        rt.kill("pds", signal.SIGKILL)
        assert not rt.is_running("pds")
        assert rt.exited() == {"pds": -signal.SIGKILL}
        assert rt.restart("pds") == url
        second = httpx.get(url + "/xrpc/_health").json()["pid"]
        assert second != first and rt.is_running("pds")
        with pytest.raises(ValueError, match="no service named 'stratos'"):
            rt.restart("stratos")


def test_stop_on_keyboard_interrupt(tmp_path: Path, fake_module: str) -> None:
    port = pick_free_ports(["pds"])["pds"]
    rt = runtime(tmp_path)
    with pytest.raises(KeyboardInterrupt), rt:
        rt.start([spec(fake_module, port)])
        raise KeyboardInterrupt
    assert rt.urls == {} and not _accepts(port)


def test_reference_services_and_ports() -> None:
    specs = reference_services("identity", {"pds": 40123}, ["pds:some-fault"])
    assert [(s.name, s.module, s.port, s.faults) for s in specs] == [
        ("pds", "reference_impl.pds", 40123, ("some-fault",))
    ]
    assert specs[0].env["PDS_PUBLIC_URL"] == "http://127.0.0.1:40123"
    assert services_for(["identity", "atcr"]) == ("pds", "hold", "atcr")
    stratos = reference_services("stratos", {"pds": 1, "stratos": 2, "stratos-appview": 3})
    assert [s.name for s in stratos] == ["pds", "stratos", "stratos-appview"]
    assert stratos[1].env["STRATOS_PDS_URL"] == "http://127.0.0.1:1"
    assert stratos[2].env["STRATOS_APPVIEW_STRATOS_URL"] == "http://127.0.0.1:2"
    atcr = reference_services("atcr", {"pds": 1, "hold": 2, "atcr": 3})
    assert [s.name for s in atcr] == ["pds", "hold", "atcr"]
    assert atcr[1].env["HOLD_PLC_URL"] == "http://127.0.0.1:1"
    assert atcr[2].env["ATCR_DEFAULT_HOLD_DID"] == "did:web:127.0.0.1%3A2"
    with pytest.raises(UsageError, match="no port chosen for service hold"):
        reference_services("atcr", {"pds": 1, "atcr": 3})
    assert DEFAULT_PORTS["pds"] == 2583
    assert parse_ports("pds=2600, hold=8081") == {"pds": 2600, "hold": 8081}
    with pytest.raises(UsageError, match="unknown service 'pdss'"):
        parse_ports("pdss=1")
    with pytest.raises(UsageError, match="expected NAME=PORT"):
        parse_ports("2583")
    known = {"pds": frozenset({"a"}), "stratos": frozenset({"s"})}.__getitem__
    assert parse_faults(["a", "pds:b"], ["pds"], known) == {"pds": ("a", "b")}
    assert parse_faults(["s"], ["pds", "stratos"], known) == {"pds": (), "stratos": ("s",)}
    with pytest.raises(UsageError, match="no started service knows it"):
        parse_faults(["nope"], ["pds", "stratos"], known)
    with pytest.raises(UsageError, match="stratos is not started"):
        parse_faults(["stratos:x"], ["pds"])
    ports = pick_free_ports(["a", "b", "c"])
    assert len(set(ports.values())) == 3


def test_embedded_verify_leaves_nothing_running(
    tmp_path: Path, fake_module: str, write_suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H-CLI-01 with the stand-in module in place of reference_impl.pds."""
    from types import MappingProxyType

    import conformance.runtime.process as process
    from conformance.cli import main

    monkeypatch.setattr(process, "SERVICE_MODULES", MappingProxyType({"pds": fake_module}))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    suites = write_suite(
        identity="""
        import pytest

        @pytest.mark.requirement("XRPC-01")
        def test_health(target, run_info, http):
            assert target.embedded and run_info.logs_dir is not None
            assert target.provision.enabled and target.provision.handle_domain == "test"
            r = http.get(target.identity.pds + "/xrpc/_health")
            assert r.json()["faults"] == ["seeded"]
            (run_info.logs_dir / "pid").write_text(str(r.json()["pid"]))
        """
    )
    out = io.StringIO()
    code = main(
        [
            "verify",
            "--profile",
            "identity",
            "--only",
            "XRPC-01",
            "--fault",
            "pds:seeded",
            "--suites-dir",
            str(suites),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        out=out,
        err=io.StringIO(),
    )
    assert code == 0, out.getvalue()
    (run_dir,) = list((tmp_path / "reports").iterdir())
    assert run_dir.name.endswith("-embedded-identity")
    assert "listening on 127.0.0.1" in (run_dir / "logs" / "pds.log").read_text()
    pid = int((run_dir / "logs" / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


REFERENCE_PDS = Path(__file__).resolve().parents[3] / "reference_impl" / "pds" / "__main__.py"


@pytest.mark.slow
@pytest.mark.skipif(not REFERENCE_PDS.is_file(), reason="the reference PDS is not in this checkout")
def test_embedded_verify_with_the_reference_pds(tmp_path: Path, write_suite) -> None:
    """H-CLI-01 for real: start reference_impl.pds, run, stop; nothing is left listening."""
    import json

    from conformance.cli import main

    suites = write_suite(
        identity="""
        import pytest

        @pytest.mark.requirement("XRPC-01")
        def test_unknown_nsid(target, http):
            r = http.get(target.identity.pds + "/xrpc/com.example.nothing")
            assert r.status_code in (404, 501)
            assert r.json()["error"] == "MethodNotImplemented"
        """
    )
    out = io.StringIO()
    code = main(
        [
            "verify",
            "--profile",
            "identity",
            "--only",
            "XRPC-01",
            "--suites-dir",
            str(suites),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        out=out,
        err=io.StringIO(),
    )
    assert code == 0, out.getvalue()
    (run_dir,) = list((tmp_path / "reports").iterdir())
    data = json.loads((run_dir / "results.json").read_text())
    pds = data["target"]["identity"]["pds"]
    assert data["target"]["embedded"] is True
    assert (run_dir / "logs" / "pds.log").stat().st_size > 0
    assert not _accepts(int(pds.rsplit(":", 1)[1]))


@pytest.mark.slow
def test_bare_fault_names_go_to_the_service_that_knows_them() -> None:
    """The services are asked for their faults (``--list-faults``), not imported."""
    specs = reference_services(
        "stratos", {"pds": 1, "stratos": 2, "stratos-appview": 3}, ["boundary-403"]
    )
    assert {s.name: s.faults for s in specs} == {
        "pds": (),
        "stratos": ("boundary-403",),
        "stratos-appview": (),
    }
    with pytest.raises(UsageError, match="boundary-403: no started service knows it"):
        reference_services("identity", {"pds": 1}, ["boundary-403"])
