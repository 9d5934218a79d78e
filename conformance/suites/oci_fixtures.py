"""Session fixtures for the OCI Distribution suite, shared with the ATCR suite.

``conformance/suites/conftest.py`` imports them, so every profile's suite sees them:

- ``oci_registry_url``: ``[atcr] registry`` of the target (``disabled`` when absent);
- ``oci_identity``: who pushes. Against a plain registry the optional Basic credentials
  (``[atcr] username`` + the secret in ``password_env``); against ATCR (``[atcr] hold`` is set)
  the first account with ``hold_crew`` and ``atcr_login``, which is logged in to the AppView over
  OAuth once (``oci_atcr_login``), since pushing needs the owner's OAuth session;
- ``oci_namespace``: the repository prefix (``[atcr] namespace``, else the ATCR account's handle,
  else ``atconform``); ``oci_repo``: a factory of fresh repository names for this run;
- ``oci_auth`` (the run's ``RegistryAuth``), ``oci_session_client`` (a recorded session-wide
  ``RegistryClient``), ``oci_client`` (per test, on the recorded ``http``), ``oci_anonymous``
  (per test, no credentials) and ``oci_seed`` (one image pushed once for the pull checks).

``settle(verdict)`` turns a check's verdict into the test outcome (pass, fail, or ``skip`` for an
optional feature the registry validly lacks).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.oci import Unsupported, Verdict
from conformance.clients.oci import RegistryAuth, RegistryClient
from conformance.clients.stratos import ServiceLogin
from conformance.evidence import ExchangeRecorder
from conformance.plugin import disabled, unsupported
from conformance.redact import Redactor
from conformance.scenarios.base import json_body
from conformance.scenarios.oci import RepoNamer, Seed, seed_image
from conformance.target import Account, TargetProfile

DEFAULT_NAMESPACE = "atconform"
HTTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OciIdentity:
    """Who the suite pushes as; ``account`` is set against ATCR."""

    username: str | None
    password: str | None = field(repr=False)
    account: Account | None = None

    @property
    def atcr(self) -> bool:
        return self.account is not None


def settle(verdict: Verdict) -> None:
    """Pass on None, ``skip`` (unsupported) on Unsupported, fail on a Failure."""
    if isinstance(verdict, Unsupported):
        unsupported(verdict.reason)
    require(verdict)


def atcr_pusher(target: TargetProfile) -> Account | None:
    """The first account that is hold crew and may log in to the AppView."""
    return next((a for a in target.accounts if a.hold_crew and a.atcr_login), None)


@pytest.fixture(scope="session")
def oci_registry_url(target: TargetProfile) -> str:
    if target.atcr.registry is None:
        disabled("the target profile names no registry ([atcr] registry)")
    return target.atcr.registry.rstrip("/")


@pytest.fixture(scope="session")
def oci_identity(target: TargetProfile, redactor: Redactor) -> OciIdentity:
    if target.atcr.hold is not None:
        account = atcr_pusher(target)
        if account is None:
            disabled("no account is both hold crew and allowed to log in to the AppView")
        password = target.password(account)
        redactor.add(password)
        return OciIdentity(account.handle, password, account)
    if target.atcr.username is not None and target.atcr.password_env is not None:
        password = target.secret(target.atcr.password_env)
        redactor.add(password)
        return OciIdentity(target.atcr.username, password)
    return OciIdentity(None, None)


@pytest.fixture(scope="session")
def oci_namespace(target: TargetProfile, oci_identity: OciIdentity) -> str:
    if target.atcr.namespace:
        return target.atcr.namespace.strip("/")
    if oci_identity.account is not None:
        return oci_identity.account.handle
    return DEFAULT_NAMESPACE


@pytest.fixture(scope="session")
def oci_other_namespace(target: TargetProfile, oci_identity: OciIdentity) -> str | None:
    """A namespace the pushing identity has no access to (ATCR: another account's handle)."""
    if oci_identity.account is None:
        return None
    others = [a.handle for a in target.accounts if a.handle != oci_identity.account.handle]
    return others[0] if others else None


@pytest.fixture(scope="session")
def oci_repo(oci_namespace: str) -> RepoNamer:
    """``oci_repo("label")`` -> a repository name no earlier run used."""
    run = secrets.token_hex(3)
    counter = itertools.count(1)

    def name(label: str) -> str:
        return f"{oci_namespace}/{label}-{run}-{next(counter)}"

    return name


@pytest.fixture(scope="session")
def oci_auth(oci_identity: OciIdentity, redactor: Redactor) -> RegistryAuth:
    return RegistryAuth(redactor, oci_identity.username, oci_identity.password)


@pytest.fixture(scope="session")
def oci_atcr_login(
    oci_identity: OciIdentity,
    oci_registry_url: str,
    session_http: httpx.Client,
    redactor: Redactor,
) -> None:
    """Against ATCR: log the pushing account in to the AppView over OAuth, once per run."""
    if oci_identity.account is None or oci_identity.password is None:
        return
    handle = oci_identity.account.handle
    attempt = ServiceLogin(session_http, redactor).login(
        f"{oci_registry_url}/auth/oauth/login", {"handle": handle}, handle,
        oci_identity.password,
    )
    final = attempt.responses[-1]
    body = json_body(final)
    if final.status_code != 200 or not isinstance(body, dict) or body.get("loggedIn") is not True:
        raise RuntimeError(
            f"the OAuth login of {handle} to the AppView did not complete "
            f"(last answer {final.status_code}); pushes need it"
        )


def _client(recorder: ExchangeRecorder, auth: httpx.Auth | None) -> httpx.Client:
    return httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False, auth=auth,
                        event_hooks=recorder.event_hooks())


@pytest.fixture(scope="session")
def oci_session_client(
    oci_registry_url: str,
    oci_auth: RegistryAuth,
    recorder: ExchangeRecorder,
    oci_atcr_login: None,
) -> Iterator[RegistryClient]:
    with _client(recorder, oci_auth) as http:
        yield RegistryClient(http, oci_registry_url)


@pytest.fixture
def oci_client(
    http: httpx.Client, oci_auth: RegistryAuth, oci_registry_url: str, oci_atcr_login: None
) -> RegistryClient:
    """A per-test client on the recorded ``http``, answering challenges with the run's auth."""
    http.auth = oci_auth
    return RegistryClient(http, oci_registry_url)


@pytest.fixture
def oci_anonymous(
    oci_registry_url: str, recorder: ExchangeRecorder
) -> Iterator[RegistryClient]:
    """A recorded client with no credentials and no token dance."""
    with _client(recorder, None) as http:
        yield RegistryClient(http, oci_registry_url)


@pytest.fixture(scope="session")
def oci_seed(oci_session_client: RegistryClient, oci_repo: Callable[[str], str]) -> Seed:
    """One small image (config + two layers, tag ``v1``) pushed once for the pull checks."""
    return seed_image(oci_session_client, oci_repo("seed"))
