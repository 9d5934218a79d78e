"""The embedded default: the reference services on loopback, ready for the suites.

Some services must know accounts before they start (the Stratos allowlist names DIDs), so the
start has two phases: the PDS first, then the accounts the suites will use are created on it,
then everything else. The resulting target lists those accounts as *given*, their passwords in
the target's in-memory secrets (never in the environment).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import httpx

from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient
from conformance.provision import AccountCredentials, provision_accounts
from conformance.redact import Redactor
from conformance.runtime.process import ProcessRuntime, ServiceSpec
from conformance.target import Account, TargetProfile, embedded_target

HANDLE_DOMAIN = "test"


@dataclass(frozen=True)
class Role:
    """One embedded account: its boundaries on Stratos, and whether the allowlist admits it."""

    letter: str
    boundaries: tuple[str, ...]
    allowlisted: bool = True


# Two accounts sharing a boundary, one outside it, one the allowlist refuses, and a spare for
# destructive tests (unenroll, import) — what the Stratos suites need (docs/stratos.md).
STRATOS_ROLES = (
    Role("a", ("engineering",)),
    Role("b", ("engineering",)),
    Role("c", ("design",)),
    Role("d", ("engineering",), allowlisted=False),
    Role("e", ("engineering",)),
)


def with_sync_token(specs: Sequence[ServiceSpec], redactor: Redactor) -> list[ServiceSpec]:
    """Give Stratos and its AppView one fresh shared secret for the event stream."""
    token = secrets.token_urlsafe(32)
    redactor.add(token)
    extra = {"stratos": "STRATOS_SYNC_TOKEN", "stratos-appview": "STRATOS_APPVIEW_SYNC_TOKEN"}
    return [
        replace(s, env={**s.env, extra[s.name]: token}) if s.name in extra else s for s in specs
    ]


def _create_accounts(
    pds_url: str, roles: Sequence[Role], redactor: Redactor
) -> list[AccountCredentials]:
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        pds = PdsClient(XrpcClient(pds_url, http), redactor)
        return provision_accounts(pds, len(roles), HANDLE_DOMAIN, None, redactor)


def _given(
    credentials: Sequence[AccountCredentials], roles: Sequence[Role]
) -> tuple[list[Account], dict[str, str]]:
    accounts: list[Account] = []
    passwords: dict[str, str] = {}
    for cred, role in zip(credentials, roles, strict=True):
        env_name = f"ATCONFORM_EMBEDDED_{role.letter.upper()}_PASSWORD"
        passwords[env_name] = cred.password
        accounts.append(
            Account(cred.handle, env_name, role.boundaries, allowlisted=role.allowlisted)
        )
    return accounts, passwords


def start_embedded(
    runtime: ProcessRuntime, specs: Sequence[ServiceSpec], redactor: Redactor
) -> TargetProfile:
    """Start ``specs`` (which always include the PDS) and describe them as a target profile."""
    by_name: Mapping[str, ServiceSpec] = {s.name: s for s in specs}
    urls = runtime.start([by_name["pds"]])
    rest = [s for s in specs if s.name != "pds"]
    accounts: list[Account] = []
    passwords: dict[str, str] = {}
    if "stratos" in by_name:
        credentials = _create_accounts(urls["pds"], STRATOS_ROLES, redactor)
        accounts, passwords = _given(credentials, STRATOS_ROLES)
        allowed = ",".join(
            c.did for c, r in zip(credentials, STRATOS_ROLES, strict=True) if r.allowlisted
        )
        rest = [
            replace(s, env={**s.env, "STRATOS_ALLOWED_DIDS": allowed}) if s.name == "stratos" else s
            for s in with_sync_token(rest, redactor)
        ]
    urls.update(runtime.start(rest))
    return embedded_target(
        urls["pds"],
        stratos_url=urls.get("stratos"),
        stratos_service_did=by_name["stratos"].env.get("STRATOS_SERVICE_DID")
        if "stratos" in by_name
        else None,
        stratos_appview=urls.get("stratos-appview"),
        atcr_registry=urls.get("atcr"),
        atcr_hold=urls.get("hold"),
        accounts=accounts,
        secrets=passwords,
    )
