"""Shared helpers (no tests) for the enrollment-over-OAuth and PDS-sync tests.

A real reference PDS runs as a subprocess; the Stratos core (``build_stratos``) runs in-process
with the real ``OAuthClient`` and ``PdsSync`` as its hooks, and the OAuth routes are served on
loopback by uvicorn *with* a lifespan that starts and stops the sync worker — the wiring
``app.py`` is expected to do. Users sign in at the PDS like a browser would.

(Named ``test_*`` only because of where this engineer may put files; it collects no tests.)
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from oauth_client_support import Account, new_account, sign_in
from starlette.applications import Starlette

from conformance.localserver import free_port, serve_in_thread
from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services
from reference_impl.common.oauth_client import (
    ClientIdentity,
    IdentityResolver,
    OAuthClient,
    load_or_create_key,
)
from reference_impl.common.oauth_client.store import OAuthClientStore, Session
from reference_impl.common.sqlite import Database
from reference_impl.stratos.config import StratosConfig
from reference_impl.stratos.core import Stratos, build_stratos
from reference_impl.stratos.oauth_routes import build_oauth_routes
from reference_impl.stratos.pds_sync import PdsSync

SERVICE_DID = "did:web:stratos.localhost"
ENGINEERING = f"{SERVICE_DID}/engineering"
DESIGN = f"{SERVICE_DID}/design"
POST = "zone.stratos.feed.post"
ENROLLMENT = "zone.stratos.actor.enrollment"


def serve_with_lifespan(app: Any, port: int) -> AbstractContextManager[str]:
    """The app on 127.0.0.1:``port`` with its lifespan (background workers) running."""
    return serve_in_thread(app, port=port, lifespan=True)


@dataclass
class StratosWorld:
    runtime: ProcessRuntime
    pds: str
    url: str
    config: StratosConfig
    db: Database
    stratos: Stratos
    sync: PdsSync
    identity: ClientIdentity
    alice: Account
    bob: Account
    dave: Account  # not on the allowlist

    def session(self, did: str) -> Session | None:
        return OAuthClientStore(self.db).load_session(did)


@contextmanager
def stratos_world(base: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[StratosWorld]:
    with ProcessRuntime(base / "pds-data", base / "logs", base_env=dict(os.environ)) as runtime:
        pds = runtime.start(reference_services("identity", pick_free_ports(["pds"])))["pds"]
        with httpx.Client(timeout=30) as http:
            alice, bob, dave = (new_account(http, pds) for _ in range(3))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = StratosConfig.from_env(
            {
                "STRATOS_SERVICE_DID": SERVICE_DID,
                "STRATOS_PDS_URL": pds,
                "STRATOS_ALLOWED_DIDS": f"{alice.did},{bob.did}",
                "STRATOS_AUTO_ENROLL_DOMAINS": "engineering",
                **(extra_env or {}),
            },
            public_url=url,
            data_dir=base / "stratos",
        )
        # The same service.sqlite build_stratos opens; the OAuth and outbox tables live there.
        db = Database(config.data_dir / "service.sqlite")
        client = httpx.AsyncClient()
        identity = ClientIdentity.at(
            url, load_or_create_key(db, "oauth-client"), client_name="Stratos (test)"
        )
        resolver = IdentityResolver(client, config.plc_url, handle_resolver_url=config.pds_url)
        oauth = OAuthClient(client, db, identity, time.time, resolver)
        sync = PdsSync(db, oauth, config.service_did, base_backoff_s=0.2, max_backoff_s=2)
        stratos = build_stratos(config, sync)

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await sync.start()
            try:
                yield
            finally:
                await sync.stop()
                await client.aclose()

        app = Starlette(
            routes=build_oauth_routes(oauth, stratos.enrollments, sync), lifespan=lifespan
        )
        with serve_with_lifespan(app, port):
            yield StratosWorld(
                runtime, pds, url, config, db, stratos, sync, identity, alice, bob, dave
            )
        stratos.close()


def enroll(
    world: StratosWorld,
    http: httpx.Client,
    account: Account,
    boundaries: str | None = None,
) -> httpx.Response:
    """The whole browser flow: Stratos authorize → PDS sign-in → Stratos callback."""
    params = {"handle": account.handle}
    if boundaries is not None:
        params["boundaries"] = boundaries
    started = http.get(f"{world.url}/oauth/authorize", params=params)
    assert started.status_code == 303, started.text
    callback = sign_in(
        http,
        started.headers["location"],
        client_id=world.identity.client_id,
        redirect_uri=world.identity.redirect_uri,
        account=account,
    )
    assert callback.location.startswith(f"{world.url}/oauth/callback?")
    return http.get(callback.location)


def pds_record(
    http: httpx.Client, world: StratosWorld, did: str, collection: str, rkey: str
) -> dict[str, Any] | None:
    response = http.get(
        f"{world.pds}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": collection, "rkey": rkey},
    )
    if response.status_code == 200:
        body: dict[str, Any] = response.json()
        return body
    assert response.status_code in (400, 404), response.text
    return None


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``check()`` is truthy; its value, or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
