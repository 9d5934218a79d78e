"""ATCR-AUTH-01..04: the token challenge, token issuance, namespace protection and tampered
tokens. Each test runs a ``conformance.scenarios.atcr`` probe and hands it to one check."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.atcr import (
    check_base_challenge,
    check_foreign_token,
    check_namespace_protection,
    check_tampered_tokens,
    check_token_issuance,
)
from conformance.checks.base import require
from conformance.clients.pds import PdsClient
from conformance.redact import Redactor
from conformance.scenarios.atcr import (
    probe_base_unauthenticated,
    probe_cross_namespace,
    probe_tampered_tokens,
    probe_tokens,
    unique_suffix,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrMember, AtcrRoles, RegistryFactory


@pytest.mark.requirement("ATCR-AUTH-01")
def test_base_endpoint_challenge(http: httpx.Client, registry_url: str) -> None:
    require(check_base_challenge(probe_base_unauthenticated(http, registry_url), registry_url))


@pytest.mark.requirement("ATCR-AUTH-02")
def test_token_issuance(
    http: httpx.Client,
    registry_url: str,
    registry_service: str | None,
    atcr_roles: AtcrRoles,
    redactor: Redactor,
) -> None:
    a, b = atcr_roles["a"].user, atcr_roles["b"].user
    suffix = unique_suffix()
    probes = probe_tokens(
        http, registry_url, service=registry_service, user=a,
        own_repo=a.repo(f"atconform-token-{suffix}"), other_repo=b.repo(f"atconform-{suffix}"),
        redactor=redactor,
    )
    require(check_token_issuance(probes))


@pytest.mark.requirement("ATCR-AUTH-03")
def test_namespace_protection(
    http: httpx.Client,
    registry_url: str,
    registry_service: str | None,
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
    pds: PdsClient,
    redactor: Redactor,
) -> None:
    a, b = logged_in("a").user, logged_in("b").user
    suffix = unique_suffix()
    tokens = probe_tokens(
        http, registry_url, service=registry_service, user=a,
        own_repo=a.repo(f"atconform-token-{suffix}"), other_repo=b.repo(f"atconform-{suffix}"),
        redactor=redactor,
    )
    require(check_foreign_token(tokens))
    probes = probe_cross_namespace(
        http, registry_url, registry_for(a), pds, service=registry_service, user_a=a, user_b=b,
        redactor=redactor,
    )
    require(check_namespace_protection(probes))


@pytest.mark.requirement("ATCR-AUTH-04")
def test_tampered_tokens(
    http: httpx.Client,
    registry_url: str,
    registry_service: str | None,
    atcr_roles: AtcrRoles,
    redactor: Redactor,
) -> None:
    a = atcr_roles["a"].user
    probes = probe_tampered_tokens(
        http, registry_url, service=registry_service, user=a,
        repo=a.repo(f"atconform-tamper-{unique_suffix()}"), redactor=redactor,
    )
    require(check_tampered_tokens(probes))
