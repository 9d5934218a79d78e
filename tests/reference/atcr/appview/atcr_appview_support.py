"""Shared helpers (no tests) for the ATCR AppView tests.

- ``port_world``: a real reference PDS subprocess and the AppView's ATProto side in-process
  (real OAuthClient, real ports), with the OAuth routes served by uvicorn on loopback. Port
  coroutines run on the server's event loop (``world.run``), where the shared HTTP client lives.
- ``stack``: the real processes — PDS, hold (``python -m reference_impl.atcr.hold``) and AppView
  (``python -m reference_impl.atcr.appview``) — for end-to-end tests through the HTTP API.

Users sign in at the PDS as a browser would (``oauth_client_support.sign_in``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from oauth_client_support import Account, new_account, sign_in
from starlette.applications import Starlette

from conformance.localserver import free_port, serve_in_thread
from conformance.runtime.process import (
    ProcessRuntime,
    ServiceSpec,
    pick_free_ports,
    service_specs,
)
from reference_impl.atcr.appview.atproto import AtprotoSettings, build_ports
from reference_impl.atcr.appview.oauth_routes import (
    CALLBACK_PATH,
    JWKS_PATH,
    METADATA_PATH,
    build_oauth_routes,
)
from reference_impl.atcr.appview.ports import RegistryPorts
from reference_impl.common.oauth_client import (
    ClientIdentity,
    IdentityResolver,
    OAuthClient,
    load_or_create_key,
)
from reference_impl.common.sqlite import Database

T = TypeVar("T")

APPVIEW_MODULE = "reference_impl.atcr.appview"
HOLD_MODULE = "reference_impl.atcr.hold"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def hold_did_for(url: str) -> str:
    return "did:web:" + url.split("://", 1)[1].replace(":", "%3A")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(account: Account, password: str | None = None) -> str:
    raw = f"{account.handle}:{password or account.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


# -- the in-process ATProto side ---------------------------------------------------------------


def serve_with_lifespan(app: Any, port: int) -> AbstractContextManager[str]:
    """The app on 127.0.0.1:``port`` with its lifespan (background workers) running."""
    return serve_in_thread(app, port=port, lifespan=True)


@dataclass
class PortWorld:
    pds: str
    url: str
    identity: ClientIdentity
    oauth: OAuthClient
    ports: RegistryPorts
    loop: asyncio.AbstractEventLoop
    accounts: list[Account]
    db: Database

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a port coroutine on the server's loop (where its HTTP client lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def port_world(
    base: Path,
    *,
    accounts: int = 3,
    default_hold_did: str = "did:web:127.0.0.1%3A1",
    faults: Sequence[str] = (),
) -> Iterator[PortWorld]:
    with ProcessRuntime(base / "pds-data", base / "logs", base_env=dict(os.environ)) as runtime:
        pds = runtime.start(service_specs(["pds"], pick_free_ports(["pds"])))["pds"]
        with httpx.Client(timeout=30) as http:
            people = [new_account(http, pds) for _ in range(accounts)]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        db = Database(base / "appview" / "appview.sqlite")
        client = httpx.AsyncClient(trust_env=False)
        identity = ClientIdentity.at(
            url,
            load_or_create_key(db, "oauth-client"),
            client_name="ATCR (test)",
            metadata_path=METADATA_PATH,
            callback_path=CALLBACK_PATH,
            jwks_path=JWKS_PATH,
        )
        oauth = OAuthClient(client, db, identity, time.time, IdentityResolver(client, pds, pds))
        ports = build_ports(
            AtprotoSettings(
                base_url=url,
                pds_url=pds,
                plc_url=pds,
                default_hold_did=default_hold_did,
                faults=frozenset(faults),
            ),
            client,
            oauth,
        )
        loops: list[asyncio.AbstractEventLoop] = []

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            loops.append(asyncio.get_running_loop())
            try:
                yield
            finally:
                await client.aclose()

        app = Starlette(
            routes=build_oauth_routes(
                oauth, ports.credentials, metadata_404="client-metadata-404" in faults
            ),
            lifespan=lifespan,
        )
        with serve_with_lifespan(app, port):
            yield PortWorld(pds, url, identity, oauth, ports, loops[0], people, db)


def oauth_login(http: httpx.Client, appview: str, account: Account) -> httpx.Response:
    """The whole browser flow: AppView login → PDS sign-in → AppView callback."""
    started = http.get(f"{appview}/auth/oauth/login", params={"handle": account.handle})
    assert started.status_code == 303, started.text
    metadata = http.get(f"{appview}/client-metadata.json").json()
    callback = sign_in(
        http,
        started.headers["location"],
        client_id=metadata["client_id"],
        redirect_uri=metadata["redirect_uris"][0],
        account=account,
    )
    assert callback.location.startswith(f"{appview}/auth/oauth/callback?"), callback.location
    return http.get(callback.location)


# -- the real processes ------------------------------------------------------------------------


@dataclass
class Stack:
    runtime: ProcessRuntime
    pds: str
    hold: str
    hold_did: str
    appview: str
    crew: list[Account]
    outsider: Account  # not crew of the hold
    specs: dict[str, ServiceSpec] = field(default_factory=dict)


def _spec(
    name: str, module: str, port: int, env: Mapping[str, str], faults: Sequence[str]
) -> ServiceSpec:
    return ServiceSpec(name=name, module=module, port=port, env=dict(env), faults=tuple(faults))


@contextmanager
def stack(base: Path, *, crew: int = 2, appview_faults: Sequence[str] = ()) -> Iterator[Stack]:
    ports = pick_free_ports(["pds", "hold", "atcr"])
    with ProcessRuntime(base / "data", base / "logs", base_env=dict(os.environ)) as runtime:
        pds = runtime.start(service_specs(["pds"], ports))["pds"]
        with httpx.Client(timeout=30) as http:
            members = [new_account(http, pds) for _ in range(crew)]
            outsider = new_account(http, pds)
        hold_url = f"http://127.0.0.1:{ports['hold']}"
        hold_did = hold_did_for(hold_url)
        hold = _spec(
            "hold",
            HOLD_MODULE,
            ports["hold"],
            {
                "HOLD_PUBLIC_URL": hold_url,
                "HOLD_PLC_URL": pds,
                "HOLD_CREW": ",".join(m.did for m in members),
                "HOLD_OWNER": members[0].did,
                "HOLD_PUBLIC": "true",
                "HOLD_ALLOW_ALL_CREW": "false",
                # Small parts, so a few-KiB blob exercises the multipart path.
                "HOLD_PART_SIZE": "4096",
            },
            (),
        )
        appview_url = f"http://127.0.0.1:{ports['atcr']}"
        appview = _spec(
            "atcr",
            APPVIEW_MODULE,
            ports["atcr"],
            {
                "ATCR_BASE_URL": appview_url,
                "ATCR_PDS_URL": pds,
                "ATCR_PLC_URL": pds,
                "ATCR_DEFAULT_HOLD_DID": hold_did,
                "ATCR_SERVICE_NAME": "atcr.test",
                "ATCR_LOG_LEVEL": "debug",
            },
            appview_faults,
        )
        runtime.start([hold, appview])
        yield Stack(
            runtime,
            pds,
            hold_url,
            hold_did,
            appview_url,
            members,
            outsider,
            {"hold": hold, "atcr": appview},
        )


# -- an OCI client, just enough for the tests --------------------------------------------------


def registry_token(
    http: httpx.Client,
    appview: str,
    account: Account | None,
    scopes: Sequence[str],
    password: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": basic(account, password)} if account else {}
    return http.get(
        f"{appview}/auth/token",
        params=[("service", "atcr.test"), *(("scope", s) for s in scopes)],
        headers=headers,
    )


def bearer(http: httpx.Client, appview: str, account: Account, repo: str) -> dict[str, str]:
    response = registry_token(http, appview, account, [f"repository:{repo}:pull,push,delete"])
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def push_blob(
    http: httpx.Client,
    appview: str,
    repo: str,
    data: bytes,
    auth: Mapping[str, str],
    *,
    chunked: bool = True,
) -> httpx.Response:
    """POST a session, PATCH the bytes in one or two chunks, PUT ?digest= (end-4a/5/6)."""
    started = http.post(f"{appview}/v2/{repo}/blobs/uploads/", headers=dict(auth))
    if started.status_code != 202:
        return started
    location = started.headers["location"]
    if not location.startswith("http"):
        location = appview + location
    if chunked and len(data) > 1:
        half = len(data) // 2
        for start, piece in ((0, data[:half]), (half, data[half:])):
            patched = http.patch(
                location,
                content=piece,
                headers={
                    **auth,
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(piece) - 1}",
                },
            )
            if patched.status_code != 202:
                return patched
            location = patched.headers.get("location", location)
            if not location.startswith("http"):
                location = appview + location
        body = b""
    else:
        body = data
    separator = "&" if "?" in location else "?"
    return http.put(
        f"{location}{separator}digest={sha256(data)}",
        content=body,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )


@dataclass(frozen=True)
class Image:
    config: bytes
    layers: tuple[bytes, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def make_image(seed: str, layers: int = 1, layer_size: int = 3000) -> Image:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "seed": seed}
    ).encode()
    blobs = tuple(
        (seed.encode() + bytes([i]) + os.urandom(layer_size))[:layer_size] for i in range(layers)
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(b), "size": len(b)} for b in blobs
            ],
            "annotations": {"org.example.seed": seed},
        },
        indent=1,  # not canonical on purpose: pulls must give these exact bytes back
    ).encode()
    return Image(config, blobs, manifest)


def push_image(
    http: httpx.Client, appview: str, repo: str, image: Image, auth: Mapping[str, str], tag: str
) -> httpx.Response:
    for blob in (image.config, *image.layers):
        uploaded = push_blob(http, appview, repo, blob, auth)
        if uploaded.status_code != 201:
            return uploaded
    return http.put(
        f"{appview}/v2/{repo}/manifests/{tag}",
        content=image.manifest,
        headers={**auth, "Content-Type": OCI_MANIFEST},
    )


def list_records(http: httpx.Client, pds: str, did: str, collection: str) -> list[dict[str, Any]]:
    response = http.get(
        f"{pds}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": collection, "limit": 100},
    )
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def oci_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
