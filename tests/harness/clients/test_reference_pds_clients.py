"""The clients against the real reference PDS, started as a subprocess (never imported).

Skipped until ``reference_impl/pds/__main__.py`` exists. The PDS is started with
``python -m reference_impl.pds --port P --data-dir D`` on loopback and stopped afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conformance.clients.oauth import OAuthClient, OAuthFlowError, Pkce
from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient, expect_ok
from conformance.evidence import ExchangeRecorder
from conformance.localserver import free_port
from conformance.provision import AccountCredentials, provision_accounts
from conformance.redact import Redactor

REPO_ROOT = Path(__file__).resolve().parents[3]
PDS_MAIN = REPO_ROOT / "reference_impl" / "pds" / "__main__.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PDS_MAIN.exists(),
        reason="reference PDS not available yet: reference_impl/pds/__main__.py is absent",
    ),
]


@dataclass(frozen=True)
class Env:
    url: str
    redactor: Redactor
    recorder: ExchangeRecorder
    http: httpx.Client
    pds: PdsClient
    accounts: list[AccountCredentials]
    ledger: Path
    data_dir: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("reference-pds")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "pds.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reference_impl.pds",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir / "data"),
            ],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    pytest.fail(f"reference PDS exited early:\n{log_path.read_text()[-4000:]}")
                try:
                    if httpx.get(f"{url}/xrpc/_health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"reference PDS not healthy in 30 s:\n{log_path.read_text()[-4000:]}"
                    )
                time.sleep(0.1)

            ledger = data_dir / "secret-ledger.txt"
            redactor = Redactor(ledger)
            recorder = ExchangeRecorder(redactor)
            with httpx.Client(event_hooks=recorder.event_hooks(), timeout=10) as http:
                pds = PdsClient(XrpcClient(url, http), redactor)
                server = expect_ok(pds.describe_server())
                domains = server.get("availableUserDomains") or [".test"]
                accounts = provision_accounts(pds, 2, domains[0], None, redactor)
                yield Env(url, redactor, recorder, http, pds, accounts, ledger, data_dir)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_provisioned_accounts_can_log_in(env: Env) -> None:
    for account in env.accounts:
        session = env.pds.login(account.handle, account.password)
        assert session.did == account.did and session.did.startswith("did:plc:")
        got = expect_ok(env.pds.get_session(session))
        assert got["did"] == account.did
        refreshed = env.pds.refresh(session)
        assert refreshed.did == account.did


def test_identity_resolution(env: Env) -> None:
    account = env.accounts[0]
    assert expect_ok(env.pds.resolve_handle(account.handle))["did"] == account.did
    well_known = env.pds.well_known_atproto_did(env.url, account.handle)
    assert well_known.status_code == 200 and well_known.text.strip() == account.did
    did_doc = env.pds.resolve_did(env.url, account.did)
    assert did_doc.status_code == 200 and did_doc.json()["id"] == account.did


def test_oauth_login_resource_request_refresh_revoke(env: Env) -> None:
    account = env.accounts[0]
    client = OAuthClient(env.http, env.redactor)
    session = client.login(env.url, account.handle, account.password)
    assert session.did == account.did
    assert "atproto" in session.scope.split()

    got = env.pds.get_session(session.auth())
    assert got.status_code == 200, got.text
    assert got.json()["did"] == account.did

    refreshed = client.refresh(session)
    assert refreshed.access_token != session.access_token
    reused = client.refresh_request(session)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    assert client.revoke(refreshed).status_code == 200
    with pytest.raises(OAuthFlowError):
        client.refresh(refreshed)


def test_oauth_step_probes(env: Env) -> None:
    client = OAuthClient(env.http, env.redactor)
    server = client.discover(env.url)
    no_dpop = client.pushed_authorization_request(
        server, client.authorization_params(Pkce.generate(), "s"), dpop=None
    )
    assert no_dpop.status_code in (400, 401)
    first = client.pushed_authorization_request(
        server,
        client.authorization_params(Pkce.generate(), "s"),
        dpop=client.new_dpop_auth(max_nonce_retries=0),
    )
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
    assert first.headers.get("DPoP-Nonce")
    plain = client.pushed_authorization_request(
        server, client.authorization_params(Pkce.plain(), "s"), dpop=client.new_dpop_auth()
    )
    assert plain.status_code == 400 and plain.json()["error"] == "invalid_request"


def test_concurrent_resource_requests_retry_at_most_once(env: Env) -> None:
    account = env.accounts[1]
    session = OAuthClient(env.http, env.redactor).login(env.url, account.handle, account.password)
    auth = session.auth()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: env.pds.get_session(auth).status_code, range(16)))
    assert statuses == [200] * 16
    assert auth.nonce_retries <= 16


def test_no_registered_secret_reaches_the_evidence(env: Env) -> None:
    path = env.data_dir / "exchanges.jsonl"
    env.recorder.write_jsonl(path)
    evidence = path.read_text()
    secrets = env.ledger.read_text().splitlines()
    assert any(a.password in secrets for a in env.accounts)
    leaked = [s for s in secrets if s in evidence]
    assert leaked == []
