"""A Docker SDK client for tests that need a real engine (skipped, with the reason, without one).

The engine is the one ``DOCKER_HOST`` names, else the project's own socket
(``unix:///run/atconform-docker.sock``, started by ``python -m conformance.realclients.engine``,
which ``./run test`` calls). Nothing here starts an engine.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance.realclients.engine import engine_answers
from conformance.runtime.docker import RUN_LABEL, docker_host

OFFLINE_BASE_TAG = "atconform-base:bookworm"
ROOT = Path(__file__).resolve().parents[2]




def docker_client_or_skip() -> Any:
    """A ``docker.DockerClient`` on :func:`docker_host`, or ``pytest.skip`` naming why not."""
    # docker.client, not docker: with the repository root on sys.path a bare ``import docker``
    # would find the repository's docker/ folder (a namespace package) when the SDK is missing.
    sdk = pytest.importorskip(
        "docker.client", reason="the Docker SDK is not installed (extra: docker)"
    )
    host = docker_host()
    if not engine_answers(host):
        pytest.skip(
            f"no Docker engine answers at {host} "
            "(start one: python -m conformance.realclients.engine)"
        )
    return sdk.DockerClient(base_url=host, timeout=300)


def docker_client() -> Any:
    """A client on :func:`docker_host` for tests where a missing engine is a failure."""
    from docker.client import DockerClient

    return DockerClient(base_url=docker_host(), timeout=300)


def offline_base_image() -> str:
    """The base the tests build the reference image from: ``ATCONFORM_BASE_IMAGE`` when set
    (``./run test`` sets it), else the offline base, built by ``docker/offline-base-image``
    (idempotent: nothing to do once the tag exists; minutes the first time)."""
    configured = os.environ.get("ATCONFORM_BASE_IMAGE")
    if configured:
        return configured
    done = subprocess.run(
        [str(ROOT / "docker" / "offline-base-image"), OFFLINE_BASE_TAG],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "DOCKER_HOST": docker_host()},
    )
    assert done.returncode == 0, f"docker/offline-base-image failed:\n{done.stderr[-3000:]}"
    return OFFLINE_BASE_TAG


def leftovers(client: Any, run_id: str) -> list[str]:
    """Containers and volumes one run left (other runs may share the engine meanwhile)."""
    label = {"label": f"{RUN_LABEL}={run_id}"}
    containers = client.containers.list(all=True, filters=label)
    volumes = client.volumes.list(filters=label)
    return [c.name for c in containers] + [v.name for v in volumes]


def run_id_in_notes(notes: list[str]) -> str:
    """The run id a docker-runtime `verify` names in its results' notes."""
    found = re.search(r"Docker containers atconform-([0-9a-f]+)-\*", " ".join(notes))
    assert found is not None, f"no docker run named in the notes: {notes}"
    return found.group(1)
