"""ATCR-CLIENT-01: the real docker and skopeo command lines against the AppView.

Runs where a ``docker`` binary with a reachable engine (``DOCKER_HOST``, else docker's default,
else the engine ``./run`` starts, ``conformance.realclients.engine``) and
``skopeo`` exist; otherwise ``disabled``. Every step is bounded and kept as a measurement note
(command, exit code, redacted output tail)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from conformance.checks.atcr import check_real_clients
from conformance.checks.base import require
from conformance.clients.pds import PdsClient
from conformance.plugin import Measure, disabled
from conformance.realclients.docker import docker_unavailable
from conformance.realclients.engine import DOCKER_HOST as ENGINE_DOCKER_HOST
from conformance.realclients.engine import SOCKET as ENGINE_SOCKET
from conformance.realclients.flow import run_real_clients
from conformance.realclients.skopeo import skopeo_unavailable
from conformance.redact import Redactor

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrMember

def _docker_host() -> tuple[str | None, str | None]:
    """(DOCKER_HOST to use, why none works)."""
    candidates: list[str | None] = [os.environ.get("DOCKER_HOST") or None]
    if ENGINE_SOCKET.exists():
        candidates.append(ENGINE_DOCKER_HOST)
    reasons = []
    for host in dict.fromkeys(candidates):
        reason = docker_unavailable(host)
        if reason is None:
            return host, None
        reasons.append(f"{host or 'default'}: {reason}")
    return None, "; ".join(reasons)


@pytest.mark.requirement("ATCR-CLIENT-01")
def test_docker_and_skopeo(
    registry_url: str,
    pds: PdsClient,
    logged_in: Callable[[str], AtcrMember],
    redactor: Redactor,
    record_measurement: Measure,
) -> None:
    host, reason = _docker_host()
    missing = reason or skopeo_unavailable()
    if missing:
        disabled(f"no Docker engine / skopeo available: {missing}")
    user = logged_in("a").user
    run = run_real_clients(registry_url, user, pds, redactor, docker_host=host)
    for step in run.steps:
        record_measurement(f"{step.label} exit code", step.exit_code if step.exit_code is not None
                           else "none", "", step.summary())
    require(check_real_clients(run))
