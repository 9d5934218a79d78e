"""Test doubles for the AppView's tests: a fake event stream, a fake auth layer, an app runner.

* ``FakeEventStream`` is a stand-in for the Stratos service *only in these unit tests*: a real
  WebSocket server on loopback that speaks the frame format docs/stratos.md documents
  (DAG-CBOR header + DAG-CBOR body; ``{"op": -1}`` error frames; ``cursor`` replays events with
  seq > N, no cursor means live events only; ``FutureCursor`` / ``AuthRequired``). It encodes
  with cbrrr directly, not with the AppView's code, so the decoder is checked against an
  independent writer. The real Stratos + AppView pair is tested end to end elsewhere.
* ``TestAuthenticator`` is a test double of the auth layer (the DPoP resource-server
  authenticator): ``Authorization: Test <did>`` makes ``<did>`` the viewer, any other
  ``Authorization`` value is refused with 401, none means "no credentials".
* ``running_appview`` serves ``build_app`` with ``conformance.localserver.serve_in_thread`` and
  drives the app's ASGI lifespan itself (serve_in_thread runs uvicorn with lifespan off), so the
  stream consumer starts and stops exactly as it does under ``run_service``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cbrrr import CID, encode_dag_cbor
from starlette.requests import Request
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from conformance.localserver import serve_in_thread
from reference_impl.common.errors import XrpcError
from reference_impl.common.service import parse_settings
from reference_impl.common.xrpc import AuthResult
from reference_impl.stratos.appview.app import build_app
from reference_impl.stratos.appview.config import (
    DEFAULT_PORT,
    ENV_PREFIX,
    KNOWN_FAULTS,
    NAME,
)

POST = "zone.stratos.feed.post"
SUBSCRIBE_PATH = "/xrpc/zone.stratos.sync.subscribeRecords"
SERVICE_DID = "did:web:stratos.test"
ENGINEERING = f"{SERVICE_DID}/engineering"
DESIGN = f"{SERVICE_DID}/design"

ALICE = "did:plc:alicealicealicealicealic"  # engineering
BOB = "did:plc:bobbobbobbobbobbobbobbobb"  # engineering
CAROL = "did:plc:carolcarolcarolcarolcaro"  # design
DAVE = "did:plc:davedavedavedavedavedave"  # never enrolled


# --- frames and event bodies, written independently of the AppView's decoder -------------------


def frame(kind: str, body: dict[str, Any]) -> bytes:
    return encode_dag_cbor({"op": 1, "t": kind}) + encode_dag_cbor(body)


def error_frame(error: str, message: str = "") -> bytes:
    return encode_dag_cbor({"op": -1}) + encode_dag_cbor({"error": error, "message": message})


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def post_record(
    text: str, domains: tuple[str, ...] | None = None, created_at: str | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": POST,
        "text": text,
        "createdAt": created_at or now_iso(),
    }
    if domains is not None:
        record["boundary"] = {"values": [{"value": d} for d in domains]}
    return record


def record_cid(record: dict[str, Any]) -> CID:
    return CID.cidv1_dag_cbor_sha256_32_from(encode_dag_cbor(record))


def create_op(rkey: str, record: dict[str, Any], action: str = "create") -> dict[str, Any]:
    return {"action": action, "path": f"{POST}/{rkey}", "cid": record_cid(record), "record": record}


def update_op(rkey: str, record: dict[str, Any]) -> dict[str, Any]:
    return create_op(rkey, record, action="update")


def delete_op(rkey: str) -> dict[str, Any]:
    return {"action": "delete", "path": f"{POST}/{rkey}", "cid": None, "record": None}


def commit_body(did: str, ops: list[dict[str, Any]], seq: int = 0) -> dict[str, Any]:
    return {
        "seq": seq,
        "did": did,
        "rev": "3laaaaaaaaaa2",
        "commit": record_cid({"fake": "commit", "seq": seq}),
        "time": now_iso(),
        "ops": ops,
    }


def enrollment_body(did: str, enrolled: bool, domains: tuple[str, ...], seq: int = 0) -> dict:
    return {
        "seq": seq,
        "did": did,
        "enrolled": enrolled,
        "boundaries": list(domains),
        "time": now_iso(),
    }


# --- the fake event stream ---------------------------------------------------------------------


@dataclass
class Subscription:
    """What one connection asked for."""

    sync_token: str | None
    cursor: int | None


@dataclass
class FakeEventStream:
    """A WebSocket event-stream server on 127.0.0.1 with an in-memory event log."""

    sync_token: str = "test-sync-token"
    # False: ignore the subscriber's cursor and replay from the start (an at-least-once
    # server), to show the AppView's own seq guard prevents duplicates.
    honour_cursor: bool = True
    url: str = ""
    subscriptions: list[Subscription] = field(default_factory=list)
    _events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    _next_seq: int = 1
    _pending_errors: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    _kick: int = 0  # bumped to make live connections send a pending error / close

    # The test thread's side ------------------------------------------------------------------

    def append(self, kind: str, body: dict[str, Any]) -> int:
        """Add an event; the fake assigns its seq (overwriting the body's)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._events.append((seq, kind, {**body, "seq": seq}))
            return seq

    def commit(self, did: str, *ops: dict[str, Any]) -> int:
        return self.append("#commit", commit_body(did, list(ops)))

    def enroll(self, did: str, *domains: str, enrolled: bool = True) -> int:
        return self.append("#enrollment", enrollment_body(did, enrolled, domains))

    def latest_seq(self) -> int:
        with self._lock:
            return self._events[-1][0] if self._events else 0

    def lose_history(self, keep_seqs_from: int = 1) -> None:
        """Stratos lost its event log: seqs restart from ``keep_seqs_from``."""
        with self._lock:
            self._events.clear()
            self._next_seq = keep_seqs_from

    def send_error_to_live_connections(self, error: str, message: str = "") -> None:
        with self._lock:
            self._pending_errors.append((error, message))
            self._kick += 1

    def drop_live_connections(self) -> None:
        self.send_error_to_live_connections("", "")  # empty name: close without an error frame

    def subscription_cursors(self) -> list[int | None]:
        with self._lock:
            return [s.cursor for s in self.subscriptions]

    # The server's side -----------------------------------------------------------------------

    async def _handler(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        cursor = int(query["cursor"]) if "cursor" in query else None
        with self._lock:
            self.subscriptions.append(Subscription(query.get("syncToken"), cursor))
            kick_seen = self._kick
        if parts.path != SUBSCRIBE_PATH:
            await connection.close(1008, "unknown path")
            return
        if query.get("syncToken") != self.sync_token:
            await connection.send(error_frame("AuthRequired", "sync token required"))
            await connection.close()
            return
        if cursor is not None and cursor > self.latest_seq():
            await connection.send(error_frame("FutureCursor", "cursor is ahead of the stream"))
            await connection.close()
            return
        if not self.honour_cursor:
            sent = 0
        else:
            # No cursor: only what happens from now on (the firehose convention Stratos follows).
            sent = cursor if cursor is not None else self.latest_seq()
        try:
            while True:
                with self._lock:
                    due = [e for e in self._events if e[0] > sent]
                    kicked = self._kick != kick_seen
                    pending = list(self._pending_errors) if kicked else []
                    if kicked:
                        self._pending_errors.clear()
                for seq, kind, body in due:
                    await connection.send(frame(kind, body))
                    sent = seq
                if kicked:
                    for error, message in pending:
                        if error:
                            await connection.send(error_frame(error, message))
                    await connection.close()
                    return
                if connection.state is not State.OPEN:
                    return  # the subscriber left (or the server is shutting down)
                await asyncio.sleep(0.01)  # Stratos polls its log every 100 ms; we go faster
        except ConnectionClosed:
            return

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeEventStream:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        loop = self._loop
        self._thread = threading.Thread(
            target=lambda: loop.run_until_complete(self._serve(ready)),
            name="fake-event-stream",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake event stream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


# --- the auth-layer test double ----------------------------------------------------------------


@dataclass(frozen=True)
class TestViewer:
    __test__ = False  # not a pytest test class
    did: str


class TestAuthenticator:
    """Test double of the auth layer: ``Authorization: Test <did>`` → viewer ``<did>``."""

    __test__ = False  # not a pytest test class

    async def __call__(self, request: Request) -> AuthResult | None:
        value = request.headers.get("authorization")
        if value is None:
            return None
        scheme, _, did = value.partition(" ")
        if scheme != "Test" or not did.startswith("did:"):
            raise XrpcError(401, "InvalidToken", "test authenticator: expected 'Test <did>'")
        return AuthResult(TestViewer(did), {"X-Test-Viewer": did})


def as_viewer(did: str) -> dict[str, str]:
    return {"Authorization": f"Test {did}"}


# --- running the AppView -----------------------------------------------------------------------


@contextmanager
def lifespan(app: Any) -> Iterator[None]:
    """Drive ``app``'s ASGI lifespan (startup now, shutdown on exit) on a thread of its own."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[str] = []
    queue_box: list[asyncio.Queue[dict[str, Any]]] = []

    async def main() -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queue_box.append(queue)
        await queue.put({"type": "lifespan.startup"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.failed":
                failure.append(str(message.get("message")))
            if message["type"].startswith("lifespan.startup."):
                started.set()

        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, queue.get, send)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    if not started.wait(10) or failure:
        raise RuntimeError(f"AppView lifespan did not start: {failure}")
    try:
        yield
    finally:
        loop.call_soon_threadsafe(queue_box[0].put_nowait, {"type": "lifespan.shutdown"})
        thread.join(15)
        loop.close()


@dataclass
class RunningAppView:
    url: str
    http: httpx.Client

    def timeline(self, viewer: str | None, **params: Any) -> httpx.Response:
        headers = as_viewer(viewer) if viewer else {}
        return self.http.get(
            f"{self.url}/xrpc/zone.stratos.feed.getTimeline", params=params, headers=headers
        )

    def uris(self, viewer: str, limit: int = 100) -> list[str]:
        response = self.timeline(viewer, limit=limit)
        assert response.status_code == 200, response.text
        return [item["post"]["uri"] for item in response.json()["feed"]]

    def health(self) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/xrpc/_health")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_cursor(self, seq: int, timeout: float = 5.0) -> float:
        return wait_until(lambda: (self.health().get("cursor") or 0) >= seq, timeout)


def appview_settings(data_dir: Path, stratos_url: str, sync_token: str) -> Any:
    return parse_settings(
        NAME,
        ENV_PREFIX,
        DEFAULT_PORT,
        KNOWN_FAULTS,
        argv=["--data-dir", str(data_dir)],
        environ={
            f"{ENV_PREFIX}_STRATOS_URL": stratos_url,
            f"{ENV_PREFIX}_SYNC_TOKEN": sync_token,
            # Fast reconnects keep the tests short; the backoff shape is tested on its own.
            f"{ENV_PREFIX}_RECONNECT_MIN_S": "0.05",
            f"{ENV_PREFIX}_RECONNECT_MAX_S": "0.4",
        },
    )


@contextmanager
def running_appview(
    data_dir: Path, stream: FakeEventStream, sync_token: str | None = None
) -> Iterator[RunningAppView]:
    settings = appview_settings(
        data_dir, stream.url, stream.sync_token if sync_token is None else sync_token
    )
    app = build_app(settings, authenticator=TestAuthenticator())
    with (
        lifespan(app),
        serve_in_thread(app) as url,
        httpx.Client(timeout=10, trust_env=False) as http,
    ):
        yield RunningAppView(url, http)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> float:
    """Seconds until ``predicate`` held; AssertionError when it never did within ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
