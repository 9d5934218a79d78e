"""The embedded default: the reference services on loopback, ready for the suites.

Some services must know accounts before they start (the Stratos allowlist names DIDs), so the
start has two phases: the PDS first, then the accounts the suites will use are created on it,
then everything else. The resulting target lists those accounts as *given*, their passwords in
the target's in-memory secrets (never in the environment).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import httpx

from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient
from conformance.provision import AccountCredentials, provision_accounts
from conformance.redact import Redactor
from conformance.runtime.base import ServiceRuntime
from conformance.runtime.process import ServiceSpec
from conformance.target import Account, TargetProfile, embedded_target

HANDLE_DOMAIN = "test"


@dataclass(frozen=True)
class Role:
    """One embedded account: its boundaries on Stratos, whether the Stratos allowlist admits
    it, whether it is crew of the ATCR hold, and whether the harness logs it in to the AppView."""

    letter: str
    boundaries: tuple[str, ...]
    allowlisted: bool = True
    hold_crew: bool = True
    atcr_login: bool = True


# Stratos: two accounts sharing a boundary, one outside it, one the allowlist refuses, and a
# spare for destructive tests (docs/stratos.md). ATCR: c is not crew of the hold, d never logs
# in to the AppView (docs/atcr.md, "Harness contracts").
ROLES = (
    Role("a", ("engineering",)),
    Role("b", ("engineering",)),
    Role("c", ("design",), hold_crew=False),
    Role("d", ("engineering",), allowlisted=False, atcr_login=False),
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
            Account(
                cred.handle,
                env_name,
                role.boundaries,
                allowlisted=role.allowlisted,
                hold_crew=role.hold_crew,
                atcr_login=role.atcr_login,
            )
        )
    return accounts, passwords


def _with_accounts(spec: ServiceSpec, credentials: Sequence[AccountCredentials]) -> ServiceSpec:
    """The account DIDs a service must know before it starts: the Stratos allowlist, the
    hold's owner and crew."""

    def dids(keep: Callable[[Role], bool]) -> str:
        return ",".join(c.did for c, r in zip(credentials, ROLES, strict=True) if keep(r))

    extra: dict[str, str] = {}
    if spec.name == "stratos":
        extra = {"STRATOS_ALLOWED_DIDS": dids(lambda r: r.allowlisted)}
    elif spec.name == "hold":
        extra = {"HOLD_CREW": dids(lambda r: r.hold_crew), "HOLD_OWNER": credentials[0].did}
    return replace(spec, env={**spec.env, **extra}) if extra else spec


def start_embedded(
    runtime: ServiceRuntime, specs: Sequence[ServiceSpec], redactor: Redactor
) -> TargetProfile:
    """Start ``specs`` (which always include the PDS) and describe them as a target profile."""
    by_name: Mapping[str, ServiceSpec] = {s.name: s for s in specs}
    urls = runtime.start([by_name["pds"]])
    rest = [s for s in specs if s.name != "pds"]
    accounts: list[Account] = []
    passwords: dict[str, str] = {}
    if "stratos" in by_name or "atcr" in by_name:
        credentials = _create_accounts(urls["pds"], ROLES, redactor)
        accounts, passwords = _given(credentials, ROLES)
        rest = [_with_accounts(s, credentials) for s in with_sync_token(rest, redactor)]
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
