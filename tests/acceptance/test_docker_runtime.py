"""The Docker runtime's promises beyond a passing run: a service that cannot start is reported
with its own words and leaves nothing behind; `atconform serve --runtime docker` removes every
container and volume on Ctrl-C and on SIGTERM (docs/docker.md)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker_support import docker_client_or_skip, docker_host, leftovers, offline_base_image

from conformance.errors import HarnessError
from conformance.runtime.docker import RUN_LABEL, DockerRuntime
from conformance.runtime.image import ensure_image, project_root
from conformance.runtime.process import ServiceSpec, pick_free_ports, port_in_use

pytestmark = pytest.mark.slow

SERVE_NAMES = ("pds", "stratos", "stratos-appview", "hold", "atcr")
SERVE_READY_S = 240


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    docker = docker_client_or_skip()
    try:
        yield docker
    finally:
        docker.close()


@pytest.fixture(scope="module")
def image(client: Any) -> str:
    return ensure_image(client, project_root(), offline_base_image())


def test_a_service_that_cannot_start_is_reported_and_removed(
    client: Any, image: str, tmp_path: Path
) -> None:
    port = pick_free_ports(["pds"])["pds"]
    spec = ServiceSpec("pds", "reference_impl.pds", port, faults=("no-such-fault",))
    runtime = DockerRuntime(client, image, tmp_path / "logs", startup_timeout=60)
    with pytest.raises(HarnessError) as raised, runtime:
        runtime.start([spec])
    # The service's own usage error (exit 2) with its words, not a timeout.
    assert raised.value.exit_code == 2, raised.value.message
    assert "pds exited with code 2 while starting" in raised.value.message
    assert "no-such-fault" in raised.value.details
    assert leftovers(client, runtime.run_id) == []
    assert "no-such-fault" in (tmp_path / "logs" / "pds.log").read_text()


def test_a_started_service_answers_on_loopback_and_is_gone_after(
    client: Any, image: str, tmp_path: Path
) -> None:
    port = pick_free_ports(["pds"])["pds"]
    url = f"http://127.0.0.1:{port}"
    spec = ServiceSpec("pds", "reference_impl.pds", port, env={"PDS_PUBLIC_URL": url})
    with DockerRuntime(client, image, tmp_path / "logs") as runtime:
        assert runtime.start([spec]) == {"pds": url}
        assert httpx.get(f"{url}/xrpc/_health", timeout=5).status_code == 200
        (container,) = client.containers.list(filters={"label": f"{RUN_LABEL}={runtime.run_id}"})
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
        assert runtime.pid("pds") > 1
    assert leftovers(client, runtime.run_id) == []
    assert not port_in_use(port)


def output_of(tmp_path: Path) -> str:
    return (tmp_path / "serve.out").read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_removes_everything_when_stopped(
    client: Any, image: str, sig: signal.Signals, tmp_path: Path
) -> None:
    ports = pick_free_ports(SERVE_NAMES)
    argv = [
        sys.executable, "-m", "conformance", "serve", "--runtime", "docker",
        "--base-image", offline_base_image(),
        "--ports", ",".join(f"{n}={p}" for n, p in ports.items()),
    ]
    log = (tmp_path / "serve.out").open("w+")
    serve = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DOCKER_HOST": docker_host()},
    )
    try:
        deadline = time.monotonic() + SERVE_READY_S
        while "Ctrl-C to stop" not in output_of(tmp_path):
            assert serve.poll() is None, output_of(tmp_path)
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.5)
        found = re.search(r"docker logs -f atconform-([0-9a-f]+)-pds", output_of(tmp_path))
        assert found is not None, output_of(tmp_path)
        run_id = found.group(1)
        # A container and a volume for each service.
        assert len(leftovers(client, run_id)) == 2 * len(SERVE_NAMES)
        for port in ports.values():
            assert port_in_use(port)
        serve.send_signal(sig)
        assert serve.wait(timeout=120) == 0, output_of(tmp_path)
    finally:
        if serve.poll() is None:
            serve.kill()
        log.close()
    assert output_of(tmp_path).rstrip().endswith("stopped")
    assert leftovers(client, run_id) == []
    assert [p for p in ports.values() if port_in_use(p)] == []
