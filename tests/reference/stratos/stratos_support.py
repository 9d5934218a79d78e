"""Helpers for the reference Stratos tests: a test authenticator and a running service.

The service runs for real (uvicorn on a loopback port, real SQLite files); only the auth layer is
replaced by ``TestAuthenticator``. Users are enrolled by calling ``EnrollmentService.enroll``
directly, which is what the OAuth callback (tested elsewhere) does after the PDS sign-in.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

from conformance.localserver import free_port, serve_in_thread
from reference_impl.common.errors import XrpcError
from reference_impl.common.faults import Faults
from reference_impl.common.xrpc import AuthResult
from reference_impl.stratos.app import create_app
from reference_impl.stratos.config import KNOWN_FAULTS, StratosConfig
from reference_impl.stratos.core import Stratos, build_stratos
from reference_impl.stratos.hooks import RecordChange

SERVICE_DID = "did:web:stratos.test"
ENGINEERING = f"{SERVICE_DID}/engineering"
DESIGN = f"{SERVICE_DID}/design"
SYNC_TOKEN = "test-sync-token-0123456789"


@dataclass(frozen=True)
class TestPrincipal:
    did: str


class TestAuthenticator:
    """TEST DOUBLE of the auth layer only: ``Authorization: Test <did>`` -> that DID.

    The real layer (DPoP-bound OAuth tokens, ``reference_impl/common/resource_auth.py``) is
    tested on its own and end to end by the harness; these tests exercise everything behind it.
    Like the real one, it returns None without credentials and refuses bad ones with a 401.
    """

    __test__ = False  # not a pytest class

    async def __call__(self, request: Request) -> AuthResult | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, did = header.partition(" ")
        if scheme != "Test" or not did.startswith("did:"):
            raise XrpcError(401, "AuthRequired", "Bad test credentials")
        return AuthResult(TestPrincipal(did), {"DPoP-Nonce": secrets.token_hex(8)})


def new_did() -> str:
    return "did:plc:" + base64.b32encode(secrets.token_bytes(15)).decode().lower()[:24]


def auth(did: str) -> dict[str, str]:
    return {"Authorization": f"Test {did}"}


def post(text: str, boundary: Sequence[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "zone.stratos.feed.post",
        "text": text,
        "createdAt": "2026-11-20T12:00:00.000Z",
    }
    if boundary is not None:
        record["boundary"] = {"values": [{"value": d} for d in boundary]}
    return record


@dataclass
class RecordingHooks:
    enrolled: list[str] = field(default_factory=list)
    unenrolled: list[str] = field(default_factory=list)
    changes: list[tuple[str, list[RecordChange]]] = field(default_factory=list)

    def on_enrolled(self, enrollment: Any) -> None:
        self.enrolled.append(enrollment.did)

    def on_records_changed(self, did: str, changes: Sequence[RecordChange]) -> None:
        self.changes.append((did, list(changes)))

    def on_unenrolled(self, did: str) -> None:
        self.unenrolled.append(did)


@dataclass
class RunningStratos:
    url: str
    stratos: Stratos
    http: httpx.Client
    hooks: RecordingHooks

    def xrpc(self, nsid: str) -> str:
        return f"{self.url}/xrpc/{nsid}"

    def get(self, nsid: str, params: Mapping[str, Any], did: str | None = None) -> httpx.Response:
        return self.http.get(self.xrpc(nsid), params=params, headers=auth(did) if did else {})

    def post(self, nsid: str, body: Any, did: str | None = None) -> httpx.Response:
        return self.http.post(self.xrpc(nsid), json=body, headers=auth(did) if did else {})

    def enroll(self, did: str, *names: str, handle: str | None = None) -> Any:
        return self.stratos.enrollments.enroll(did, handle, list(names))

    def create(self, did: str, record: dict[str, Any], rkey: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {
            "repo": did,
            "collection": record["$type"],
            "record": record,
        }
        if rkey is not None:
            body["rkey"] = rkey
        return self.post("com.atproto.repo.createRecord", body, did)


def stratos_config(
    data_dir: Path,
    public_url: str,
    env: Mapping[str, str] | None = None,
    faults: Sequence[str] = (),
) -> StratosConfig:
    base = {
        "STRATOS_SERVICE_DID": SERVICE_DID,
        "STRATOS_ALLOWED_DOMAINS": "engineering,design",
        "STRATOS_ENROLLMENT_MODE": "open",
        "STRATOS_SYNC_TOKEN": SYNC_TOKEN,
        "STRATOS_WRITE_RATE_MAX_WRITES": "100000",
    }
    return StratosConfig.from_env(
        {**base, **(env or {})},
        public_url=public_url,
        data_dir=data_dir,
        faults=Faults.parse(faults, KNOWN_FAULTS),
    )


@contextmanager
def running_stratos(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    faults: Sequence[str] = (),
    rate_clock: Any = None,
) -> Iterator[RunningStratos]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    hooks = RecordingHooks()
    config = stratos_config(data_dir, public_url, env, faults)
    kwargs: dict[str, Any] = {} if rate_clock is None else {"rate_clock": rate_clock}
    stratos = build_stratos(config, hooks, **kwargs)
    app = create_app(stratos, authenticator=TestAuthenticator())
    with serve_in_thread(app, port=port) as url, httpx.Client(timeout=30) as http:
        try:
            yield RunningStratos(url, stratos, http, hooks)
        finally:
            stratos.close()
