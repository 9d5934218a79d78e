"""Generic fixtures shared by every conformance suite.

The run-wide fixtures — ``target``, ``redactor``, ``recorder``, ``http``, ``measure``
(``record_measurement``) and ``run_info`` — come from the atconform pytest plugin
(``conformance.plugin``), which ``atconform verify`` registers. Profile-specific fixtures
(accounts, OAuth sessions, clients) belong in ``<profile>/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient
from conformance.evidence import ExchangeRecorder
from conformance.plugin import disabled
from conformance.redact import Redactor
from conformance.suites.oci_fixtures import (  # noqa: F401
    oci_anonymous,
    oci_atcr_login,
    oci_auth,
    oci_client,
    oci_identity,
    oci_namespace,
    oci_other_namespace,
    oci_registry_url,
    oci_repo,
    oci_seed,
    oci_session_client,
)
from conformance.target import TargetProfile


@pytest.fixture(scope="session")
def pds_url(target: TargetProfile) -> str:
    """The base URL of the PDS the deployment relies on."""
    if target.identity.pds is None:
        disabled("the target profile names no PDS ([identity] pds)")
    return target.identity.pds


@pytest.fixture(scope="session")
def plc_url(target: TargetProfile) -> str:
    """The base URL of the DID directory services resolve did:plc through."""
    if target.identity.plc is None:
        disabled("the target profile names no DID directory ([identity] plc)")
    return target.identity.plc


@pytest.fixture(scope="session")
def session_http(recorder: ExchangeRecorder) -> Iterator[httpx.Client]:
    """A recorded client for session-wide setup (the per-test ``http`` is function-scoped)."""
    with httpx.Client(
        timeout=30.0, follow_redirects=False, event_hooks=recorder.event_hooks()
    ) as client:
        yield client


@pytest.fixture(scope="session")
def pds(pds_url: str, session_http: httpx.Client, redactor: Redactor) -> PdsClient:
    return PdsClient(XrpcClient(pds_url, session_http), redactor)
