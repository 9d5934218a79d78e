"""Shared helpers (no tests) for the resource-server and OAuth-client tests: a real reference
PDS subprocess, accounts on it, logins through the harness's own OAuth client, and a browser-like
walk through the PDS sign-in form.

(Named ``test_*`` only because of where this engineer may put files; it collects no tests.)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from conformance.clients.oauth import AuthServerInfo, OAuthSession
from conformance.clients.oauth import OAuthClient as HarnessOAuthClient
from conformance.redact import Redactor
from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    password: str


@contextmanager
def running_pds(base: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A reference PDS subprocess on a free loopback port; yields its URL."""
    runtime = ProcessRuntime(base / "data", base / "logs", base_env={**os.environ, **(env or {})})
    with runtime:
        urls = runtime.start(reference_services("identity", pick_free_ports(["pds"])))
        yield urls["pds"]


def new_account(http: httpx.Client, pds_url: str) -> Account:
    handle = f"u{secrets.token_hex(5)}.test"
    response = http.post(
        f"{pds_url}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    return Account(response.json()["did"], handle, PASSWORD)


def harness_login(http: httpx.Client, pds_url: str, account: Account) -> OAuthSession:
    """A real DPoP-bound access token from the PDS, via the harness's loopback client."""
    return HarnessOAuthClient(http, Redactor()).login(pds_url, account.handle, account.password)


@dataclass(frozen=True)
class Callback:
    location: str
    params: dict[str, str]


def sign_in(
    http: httpx.Client,
    authorization_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    account: Account,
    consent: str = "allow",
) -> Callback:
    """What a browser does at the PDS: open the authorization URL, fill in the sign-in form,
    post it, and get redirected (not followed) back to the client's callback."""
    parts = urlsplit(authorization_url)
    query = dict(parse_qsl(parts.query))
    assert query.get("client_id") == client_id, authorization_url
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    browser = HarnessOAuthClient(http, Redactor(), client_id=client_id, redirect_uri=redirect_uri)
    server = AuthServerInfo(
        issuer=f"{parts.scheme}://{parts.netloc}",
        authorization_endpoint=endpoint,
        token_endpoint="",
        pushed_authorization_request_endpoint="",
    )
    redirect = browser.authorize(
        server, query["request_uri"], account.handle, account.password, consent=consent
    )
    assert redirect.status_code in (302, 303), redirect.text
    location = redirect.headers["location"]
    return Callback(location, dict(parse_qsl(urlsplit(location).query)))
