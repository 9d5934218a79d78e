"""`atconform verify --runtime docker --profile all`: the whole reference implementation as
containers, built offline, every MUST passing, and nothing left behind (issue 5 acceptance).

The image is built from the offline base (``docker/offline-base-image``: Debian's packages via
mmdebstrap, no registry needed) unless ``ATCONFORM_BASE_IMAGE`` names another base.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from docker_support import docker_client, leftovers, offline_base_image, run_id_in_notes
from verify_runs import VerifyRun, leaked_secrets, run_verify

from conformance.realclients.engine import ensure_docker_engine

pytestmark = pytest.mark.slow

SERVICES = ("pds", "stratos", "stratos-appview", "hold", "atcr")


@pytest.fixture(scope="module")
def docker_run(tmp_path_factory: pytest.TempPathFactory) -> VerifyRun:
    # No engine is a failure here, not a skip: the docker runtime is the acceptance.
    docker_host = ensure_docker_engine()
    base = offline_base_image()
    return run_verify(
        tmp_path_factory.mktemp("docker-run"),
        ["--profile", "all", "--runtime", "docker", "--base-image", base],
        {"DOCKER_HOST": docker_host},
        timeout=1800,
    )


def test_every_must_passes_under_docker(docker_run: VerifyRun) -> None:
    assert docker_run.exit_code == 0, docker_run.output()
    statuses = docker_run.statuses()
    areas = {rid.split("-")[0] for rid in statuses}
    assert {"PDS", "STR", "OCI", "ATCR", "DPOP", "CLOCK"} <= areas
    musts = {r["id"] for r in docker_run.results["requirements"] if r["level"] == "MUST"}
    assert len(musts) >= 100
    assert {rid: s for rid, s in statuses.items() if rid in musts and s != "pass"} == {}
    assert docker_run.results["conforms"] is True


def test_the_services_ran_as_containers(docker_run: VerifyRun) -> None:
    notes = " ".join(docker_run.results["notes"])
    assert run_id_in_notes(docker_run.results["notes"])
    assert "from image atconform-reference:" in notes
    for name in SERVICES:
        log = docker_run.run_dir / "logs" / f"{name}.log"
        # The container's own output, saved when it was removed.
        assert log.is_file() and log.stat().st_size > 0, f"no log for {name}"


def test_no_secret_leaks_under_docker(docker_run: VerifyRun) -> None:
    assert len(docker_run.ledger) > 20
    assert leaked_secrets(docker_run) == []


def test_nothing_is_left_running_under_docker(docker_run: VerifyRun) -> None:
    client = docker_client()
    try:
        assert leftovers(client, run_id_in_notes(docker_run.results["notes"])) == []
    finally:
        client.close()
    target = docker_run.results["target"]
    urls = [
        target["identity"]["pds"],
        target["stratos"]["url"],
        target["atcr"]["registry"],
        target["atcr"]["hold"],
    ]
    for url in urls:
        parts = urlsplit(url)
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex((parts.hostname, parts.port)) != 0, f"{url} still listening"
