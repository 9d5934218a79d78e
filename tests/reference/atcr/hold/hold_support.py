"""Shared helpers (no tests) for the Hold tests: a real reference PDS issues the service-auth
JWTs, holds run in-process on loopback (uvicorn in a thread, with lifespan), S3 is a real
``moto_server`` subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from oauth_client_support import Account

from conformance.localserver import free_port, serve_in_thread
from reference_impl.atcr.digests import Digest, digest_of
from reference_impl.atcr.hold.app import build_hold_app
from reference_impl.atcr.hold.config import HoldConfig
from reference_impl.atcr.hold.context import Hold
from reference_impl.common.faults import Faults

NS = "io.atcr.hold."
GET_BLOB = "com.atproto.sync.getBlob"


@dataclass
class Pds:
    url: str
    crew: Account  # in HOLD_CREW of every test hold
    outsider: Account  # never crew
    _access: dict[str, str] = field(default_factory=dict, repr=False)

    def access_jwt(self, http: httpx.Client, account: Account) -> str:
        if account.did not in self._access:
            r = http.post(
                f"{self.url}/xrpc/com.atproto.server.createSession",
                json={"identifier": account.handle, "password": account.password},
            )
            assert r.status_code == 200, r.text
            self._access[account.did] = r.json()["accessJwt"]
        return self._access[account.did]

    def service_token(
        self,
        http: httpx.Client,
        account: Account,
        aud: str,
        lxm: str | None,
        exp: int | None = None,
    ) -> str:
        params: dict[str, Any] = {"aud": aud}
        if lxm is not None:
            params["lxm"] = lxm
        if exp is not None:
            params["exp"] = exp
        r = http.get(
            f"{self.url}/xrpc/com.atproto.server.getServiceAuth",
            params=params,
            headers={"Authorization": f"Bearer {self.access_jwt(http, account)}"},
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token


def serve_app(app: Any, port: int) -> AbstractContextManager[str]:
    """The app on 127.0.0.1:``port`` with its lifespan (background workers) running."""
    return serve_in_thread(app, port=port, lifespan=True)


@dataclass
class HoldClient:
    """A running hold plus the calls the tests make against it."""

    url: str
    did: str
    hold: Hold
    pds: Pds
    http: httpx.Client

    def token(self, account: Account, nsid: str) -> str:
        return self.pds.service_token(self.http, account, self.did, nsid)

    def auth(self, account: Account, nsid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account, nsid)}"}

    def call(self, account: Account | None, method: str, body: Any) -> httpx.Response:
        headers = self.auth(account, NS + method) if account is not None else {}
        return self.http.post(f"{self.url}/xrpc/{NS}{method}", json=body, headers=headers)

    def initiate(self, account: Account, digest: str) -> str:
        r = self.call(account, "initiateUpload", {"digest": digest})
        assert r.status_code == 200, r.text
        upload_id: str = r.json()["uploadId"]
        return upload_id

    def put_part(
        self, account: Account, upload_id: str, number: int, data: bytes
    ) -> httpx.Response:
        r = self.call(account, "getPartUploadUrl", {"uploadId": upload_id, "partNumber": number})
        assert r.status_code == 200, r.text
        target = r.json()
        headers = {"Content-Type": "application/octet-stream"}
        if target["url"].startswith(self.url):
            headers.update(self.auth(account, NS + "uploadPart"))
        return self.http.request(
            target.get("method", "PUT"), target["url"], content=data, headers=headers
        )

    def upload(
        self, account: Account, data: bytes, parts: int = 3, claimed: str | None = None
    ) -> httpx.Response:
        """The whole multipart flow; returns the completeUpload response."""
        digest = claimed or str(digest_of(data))
        upload_id = self.initiate(account, digest)
        size = max(1, -(-len(data) // parts))
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        refs = []
        for n, chunk in enumerate(chunks, start=1):
            r = self.put_part(account, upload_id, n, chunk)
            assert r.status_code == 200, r.text
            refs.append({"partNumber": n, "etag": r.headers["etag"]})
        return self.call(
            account, "completeUpload", {"uploadId": upload_id, "digest": digest, "parts": refs}
        )

    def get_blob(
        self, digest: Digest | str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        d = digest if isinstance(digest, Digest) else _parse(digest)
        return self.http.request(
            method,
            f"{self.url}/xrpc/{GET_BLOB}",
            params={"did": self.did, "cid": d.to_cid()},
            headers=dict(headers or {}),
        )


def _parse(text: str) -> Digest:
    from reference_impl.atcr.digests import parse_digest

    return parse_digest(text)


@contextmanager
def running_hold(
    pds: Pds,
    data_dir: Path,
    http: httpx.Client,
    env: Mapping[str, str] | None = None,
    faults: tuple[str, ...] = (),
    clock: Callable[[], float] = time.time,
    port: int | None = None,
) -> Iterator[HoldClient]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    config = HoldConfig.from_env(
        {"HOLD_PLC_URL": pds.url, "HOLD_CREW": pds.crew.did, **(env or {})},
        public_url=url,
        data_dir=data_dir,
        faults=Faults(frozenset(faults)),
    )
    app = build_hold_app(config, clock=clock)
    with serve_app(app, port):
        yield HoldClient(url, config.did, app.state.hold, pds, http)


def random_bytes(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible test data."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


@contextmanager
def moto_server(log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real S3-compatible server on a free loopback port (small multipart minimum)."""
    port = free_port()
    env = {**os.environ, "S3_UPLOAD_PART_MIN_SIZE": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start (see {log_path})")
                time.sleep(0.1)
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
