"""The faults the AppView's ATProto side owns, each shown doing its damage:
``client-metadata-404``, ``hold-outage-hangs`` and ``tag-cached-not-from-pds`` (the latter's
behaviour against a real PDS is in test_appview_ports.py; here: that the process wires it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from atcr_appview_support import Stack, bearer, oauth_login, oci_code, push_blob, sha256, stack

from reference_impl.atcr.appview.atproto import TagCachingManifestStore
from reference_impl.atcr.appview.atproto.hold_transport import HoldTransport
from reference_impl.atcr.appview.config import KNOWN_FAULTS
from reference_impl.atcr.appview.ports import Unavailable
from reference_impl.atcr.appview.production import build_production_app
from reference_impl.common.faults import Faults
from reference_impl.common.service import ServiceSettings


def settings(tmp: Path, *faults: str) -> ServiceSettings:
    return ServiceSettings(
        name="atcr.appview",
        host="127.0.0.1",
        port=5000,
        data_dir=tmp,
        public_url="http://127.0.0.1:5000",
        faults=Faults.parse(faults, KNOWN_FAULTS),
        env={"ATCR_PDS_URL": "http://127.0.0.1:1"},
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def statuses(app: Any, *paths: str) -> list[int]:
    async def get_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://atcr") as client:
            return [(await client.get(path)).status_code for path in paths]

    return asyncio.run(get_all())


def test_client_metadata_404(tmp_path: Path) -> None:
    paths = ("/client-metadata.json", "/auth/oauth/jwks")
    assert statuses(build_production_app(settings(tmp_path / "ok")), *paths) == [200, 200]
    faulty = build_production_app(settings(tmp_path / "bad", "client-metadata-404"))
    assert statuses(faulty, *paths) == [404, 200]  # only the metadata document


def test_tag_cached_not_from_pds_is_wired_only_with_the_fault(tmp_path: Path) -> None:
    honest = build_production_app(settings(tmp_path / "ok"))
    faulty = build_production_app(settings(tmp_path / "bad", "tag-cached-not-from-pds"))
    assert not isinstance(honest.state.registry.ports.manifests, TagCachingManifestStore)
    assert isinstance(faulty.state.registry.ports.manifests, TagCachingManifestStore)


def test_hold_transport_fails_fast_unless_the_fault_makes_it_retry() -> None:
    url = f"http://127.0.0.1:{closed_port()}/xrpc/_health"

    async def attempt(transport: HoldTransport) -> float:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await transport.request("GET", url, what="probe")
        return time.monotonic() - started

    async def both() -> tuple[float, float]:
        async with httpx.AsyncClient(trust_env=False) as http:
            fast = await attempt(HoldTransport(http))
            slow = await attempt(HoldTransport(http, hangs=True, retry_window_s=1.5))
            return fast, slow

    fast, slow = asyncio.run(both())
    assert fast < 2.5
    assert slow >= 1.5  # kept retrying the refused connection


@pytest.fixture(scope="module")
def hanging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(
        tmp_path_factory.mktemp("atcr-hangs"),
        crew=1,
        # no-digest-verify is the registry layer's fault; with it the hold's own check is what
        # stands between a lying client and a corrupt blob, and its answer must map cleanly.
        appview_faults=["hold-outage-hangs", "no-digest-verify"],
    ) as running:
        yield running


def test_the_holds_digest_mismatch_becomes_digest_invalid(hanging: Stack) -> None:
    account, appview = hanging.crew[0], hanging.appview
    with httpx.Client(timeout=30, trust_env=False) as http:
        assert oauth_login(http, appview, account).status_code == 200
        repo = f"{account.handle}/lies"
        auth = bearer(http, appview, account, repo)
        started = http.post(f"{appview}/v2/{repo}/blobs/uploads/", headers=auth)
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        location = location if location.startswith("http") else appview + location
        claimed = sha256(b"something else")
        put = http.put(
            f"{location}{'&' if '?' in location else '?'}digest={claimed}",
            content=b"the real bytes",
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 400, put.text
        assert oci_code(put) == "DIGEST_INVALID"
        head = http.head(f"{appview}/v2/{repo}/blobs/{claimed}", headers=auth)
        assert head.status_code == 404


def test_hold_outage_hangs_then_completes_when_the_hold_returns(hanging: Stack) -> None:
    world = hanging
    account = world.crew[0]
    appview: str = world.appview
    with httpx.Client(timeout=60, trust_env=False) as http:
        assert oauth_login(http, appview, account).status_code == 200  # again: replaces it
        repo = f"{account.handle}/hang"
        auth = bearer(http, appview, account, repo)
        world.runtime.kill("hold", signal.SIGTERM)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(push_blob, http, appview, repo, b"hang" * 1000, auth)
            time.sleep(10.5)
            # A conforming AppView would have answered 503 by now.
            assert not pending.done(), pending.result().text
            world.runtime.restart("hold")
            response = pending.result(timeout=60)
    assert response.status_code == 201, (response.status_code, oci_code(response))
