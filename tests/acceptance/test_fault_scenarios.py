"""The fault scenarios of issue 5 under both runtimes: Stratos paused during a write burst,
Stratos and the PDS killed with SIGKILL and restarted, and a skewed PDS clock.

Each test starts its own deployment (the reference PDS, Stratos and its AppView) as processes or
as containers, drives it with the harness's own clients and judges with the harness's checks:
a check that returns a Failure fails the test. After a Docker test nothing of its run may be
left: no container or volume labelled with its run id, no service port still listening.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from docker_support import (
    docker_client_or_skip,
    docker_host,
    leftovers,
    offline_base_image,
    run_id_in_notes,
)
from verify_runs import VerifyRun, run_verify

from conformance.checks.base import Failure
from conformance.checks.resilience import (
    check_acknowledged_writes_kept,
    check_no_duplicate_writes,
    check_pds_records_survive_restart,
    check_pds_revs_after_restart,
    check_pds_write_after_restart,
    check_repo_whole_after_outage,
    check_revs_increase_across_burst,
    check_stratos_records_survive_restart,
    check_stratos_revs_after_restart,
    check_stratos_write_after_restart,
)
from conformance.clients.oauth import OAuthClient
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import StratosEnroller
from conformance.clients.xrpc import XrpcClient
from conformance.redact import Redactor
from conformance.runtime.base import ServiceRuntime
from conformance.runtime.choose import open_runtime
from conformance.runtime.embedded import start_embedded
from conformance.runtime.faketime import host_library
from conformance.runtime.process import (
    LOOPBACK,
    STRATOS_SERVICE_DID,
    pick_free_ports,
    reference_services,
)
from conformance.scenarios.resilience import (
    BurstResult,
    Outcome,
    Restarts,
    SignedIn,
    pause_during_burst,
    restart_keeps_data,
)
from conformance.scenarios.stratos_repo import StratosService
from conformance.target import TargetProfile

pytestmark = pytest.mark.slow

SERVICES = ("pds", "stratos", "stratos-appview")


@dataclass(frozen=True)
class Runtime:
    """Which runtime a test runs under, and what it needs (the docker engine and base image)."""

    kind: str
    base_image: str | None = None
    env: Mapping[str, str] | None = None

    def docker(self) -> Any:
        from conformance.runtime.docker import connect

        return connect()


@pytest.fixture(scope="module")
def docker_base_image() -> str:
    """The offline base image, once per module; skips (saying why) without an engine."""
    docker_client_or_skip().close()
    return offline_base_image()


@pytest.fixture(params=["process", "docker"])
def runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    if request.param == "process":
        return Runtime("process")
    # The project's engine, unless the environment names another one.
    host = docker_host()
    monkeypatch.setenv("DOCKER_HOST", host)
    base_image = request.getfixturevalue("docker_base_image")
    return Runtime("docker", base_image, {"DOCKER_HOST": host})


# --- the deployment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    runtime: ServiceRuntime
    target: TargetProfile
    ports: Mapping[str, int]

    @property
    def pds_url(self) -> str:
        assert self.target.identity.pds
        return self.target.identity.pds

    @property
    def stratos_url(self) -> str:
        assert self.target.stratos.url
        return self.target.stratos.url


@dataclass(frozen=True)
class Leftovers:
    """What a run left behind: its labelled containers and volumes, listening ports."""

    docker: tuple[str, ...]
    listening: tuple[int, ...]


def _listening(ports: Sequence[int]) -> tuple[int, ...]:
    out: list[int] = []
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                out.append(port)
    return tuple(out)


def leftovers_of(runtime: Runtime, run_id: str | None, ports: Sequence[int]) -> Leftovers:
    found: tuple[str, ...] = ()
    if runtime.kind == "docker":
        assert run_id, "a docker run has a run id"
        client = runtime.docker()
        try:
            found = tuple(leftovers(client, run_id))
        finally:
            client.close()
    return Leftovers(found, _listening(ports))


@contextmanager
def deployed(runtime: Runtime, tmp_path: Path) -> Iterator[Deployment]:
    ports = pick_free_ports(SERVICES)
    specs = reference_services("stratos", ports)
    with open_runtime(
        runtime.kind, tmp_path / "data", tmp_path / "logs", base_image=runtime.base_image
    ) as services:
        yield Deployment(services, start_embedded(services, specs, Redactor(None)), ports)


def run_id_of(deployment: Deployment) -> str | None:
    run_id = getattr(deployment.runtime, "run_id", None)
    return run_id if isinstance(run_id, str) else None


def sign_in(deployment: Deployment, http: httpx.Client, redactor: Redactor) -> SignedIn:
    """Account a: an OAuth session from its PDS (for Stratos) and a PDS session."""
    target = deployment.target
    account = target.accounts[0]
    password = target.password(account)
    oauth = OAuthClient(http, redactor).login(deployment.pds_url, account.handle, password)
    pds = PdsClient(XrpcClient(deployment.pds_url, http), redactor)
    return SignedIn(oauth, pds.login(account.handle, password))


def enroll(deployment: Deployment, http: httpx.Client, redactor: Redactor) -> None:
    target = deployment.target
    account = target.accounts[0]
    attempt = StratosEnroller(http, redactor).enroll(
        deployment.stratos_url, account.handle, target.password(account), account.boundaries
    )
    assert attempt.enrolled, f"enrollment failed: {attempt.final.status_code}"


def kill_9(services: ServiceRuntime, name: str) -> None:
    services.kill(name, signal.SIGKILL)
    # It really died (no clean shutdown to flush anything): the runtime sees it exited.
    assert name in services.exited(), f"{name} still runs after SIGKILL"


def no_failures(result: Any, checks: Sequence[Callable[[Any], Failure | None]]) -> dict[str, str]:
    """check name -> its failure in words, for every check that failed."""
    out: dict[str, str] = {}
    for check in checks:
        failure = check(result)
        if failure is not None:
            out[check.__name__] = f"[{failure.requirement}] {failure.title}: {failure.message}"
    return out


def burst_summary(result: BurstResult) -> str:
    counts = {o.value: len(result.with_outcome(o)) for o in Outcome}
    return (
        f"{counts}, pause {result.pause}, {len(result.caught_by_pause)} caught by it, "
        f"{len(result.sent_while_paused)} sent during it, "
        f"errors {[w.error for w in result.writes if w.error]}"
    )


# --- the tests --------------------------------------------------------------------------------


def test_pause_stratos_during_write_burst(runtime: Runtime, tmp_path: Path) -> None:
    redactor = Redactor(None)
    with (
        deployed(runtime, tmp_path) as deployment,
        httpx.Client(timeout=30.0, trust_env=False) as http,
    ):
        run_id = run_id_of(deployment)
        enroll(deployment, http, redactor)
        who = sign_in(deployment, http, redactor)
        services = deployment.runtime
        result = pause_during_burst(
            StratosService.of(XrpcClient(deployment.stratos_url, http), redactor),
            PdsClient(XrpcClient(deployment.pds_url, http), redactor),
            deployment.target.stratos.service_did or STRATOS_SERVICE_DID,
            who.stratos,
            pause=lambda: services.pause("stratos"),
            resume=lambda: services.resume("stratos"),
        )
    assert leftovers_of(runtime, run_id, list(deployment.ports.values())) == Leftovers((), ())

    # The scenario really exercised the pause: writes were acknowledged before it, and some
    # were sent while the service was frozen and answered only once it was thawed.
    summary = burst_summary(result)
    assert result.pause is not None, summary
    assert result.acknowledged_before_pause, summary
    held = result.sent_while_paused
    assert any(w.outcome is Outcome.ACKNOWLEDGED for w in held), summary
    failures = no_failures(
        result,
        [
            check_acknowledged_writes_kept,
            check_no_duplicate_writes,
            check_repo_whole_after_outage,
            check_revs_increase_across_burst,
        ],
    )
    assert failures == {}, summary


def test_kill_9_and_restart_keep_acknowledged_records(runtime: Runtime, tmp_path: Path) -> None:
    redactor = Redactor(None)
    with (
        deployed(runtime, tmp_path) as deployment,
        httpx.Client(timeout=30.0, trust_env=False) as http,
    ):
        run_id = run_id_of(deployment)
        enroll(deployment, http, redactor)
        services = deployment.runtime
        result = restart_keeps_data(
            StratosService.of(XrpcClient(deployment.stratos_url, http), redactor),
            PdsClient(XrpcClient(deployment.pds_url, http), redactor),
            lambda: sign_in(deployment, http, redactor),
            Restarts(
                kill_stratos=lambda: kill_9(services, "stratos"),
                restart_stratos=lambda: services.restart("stratos"),
                kill_pds=lambda: kill_9(services, "pds"),
                restart_pds=lambda: services.restart("pds"),
            ),
        )
    assert leftovers_of(runtime, run_id, list(deployment.ports.values())) == Leftovers((), ())

    assert result.outage == (
        "kill -9 Stratos",
        "restart Stratos",
        "kill -9 the PDS",
        "restart the PDS",
    )
    failures = no_failures(
        result,
        [
            check_stratos_records_survive_restart,
            check_pds_records_survive_restart,
            check_stratos_write_after_restart,
            check_pds_write_after_restart,
            check_stratos_revs_after_restart,
            check_pds_revs_after_restart,
        ],
    )
    assert failures == {}


# --- clock skew through the CLI ---------------------------------------------------------------


def _clock_run(runtime: Runtime, base: Path, skew: list[str]) -> VerifyRun:
    args = ["--runtime", runtime.kind]
    if runtime.base_image:
        args += ["--base-image", runtime.base_image]
    args += ["--profile", "identity", "--only", "CLOCK-01", *skew, "--json"]
    return run_verify(base, args, env=runtime.env, timeout=900)


@pytest.mark.parametrize(
    ("skew", "status"),
    [(["--skew-clock", "pds=30"], "fail"), ([], "pass")],
    ids=["pds-30s-ahead", "no-skew"],
)
def test_clock_skew_is_measured(
    runtime: Runtime, tmp_path: Path, skew: list[str], status: str
) -> None:
    if skew and runtime.kind == "process" and host_library() is None:
        pytest.skip("skewing a process's clock needs libfaketime on this host")
    run = _clock_run(runtime, tmp_path, skew)
    clock = run.requirement("CLOCK-01")
    assert clock["status"] == status, run.output()
    offset = run.measurements("CLOCK-01")["clock offset pds-harness"]
    if skew:
        assert 25 <= offset <= 35, offset
    else:
        assert abs(offset) < 5, offset

    pds = urlsplit(run.results["target"]["identity"]["pds"])
    assert pds.port is not None
    if runtime.kind == "docker":
        run_id = run_id_in_notes(run.results["notes"])
        assert leftovers_of(runtime, run_id, [pds.port]) == Leftovers((), ())
    else:
        assert _listening([pds.port]) == ()
