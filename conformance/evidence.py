"""Redacted snapshots of HTTP exchanges, captured with httpx event hooks.

``ExchangeRecorder.event_hooks()`` (or ``async_event_hooks()``) plugs into an httpx client; every
request and response that client sends is snapshotted *through the run's Redactor* at the moment
it happens, tagged with the current test id, and can later be looked up again from the
``httpx.Response`` a check returned in its ``Failure``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from conformance.redact import Redactor

DEFAULT_BODY_LIMIT = 8 * 1024
EXCHANGE_ID_KEY = "atconform.exchange_id"

_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
    "application/problem+json",
    "application/jwk-set+json",
    "application/did+ld+json",
)


@dataclass(frozen=True)
class Body:
    """A redacted (and possibly truncated) body: ``text`` is what reports show."""

    text: str
    size: int  # bytes on the wire, before truncation
    truncated: bool = False
    binary: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "size": self.size,
            "truncated": self.truncated,
            "binary": self.binary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Body:
        return cls(
            text=str(data["text"]),
            size=int(data["size"]),
            truncated=bool(data.get("truncated", False)),
            binary=bool(data.get("binary", False)),
        )


@dataclass(frozen=True)
class RequestSnapshot:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: Body

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": [list(h) for h in self.headers],
            "body": self.body.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestSnapshot:
        return cls(
            method=str(data["method"]),
            url=str(data["url"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=Body.from_dict(data["body"]),
        )


@dataclass(frozen=True)
class ResponseSnapshot:
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: Body

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "http_version": self.http_version,
            "headers": [list(h) for h in self.headers],
            "body": self.body.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResponseSnapshot:
        return cls(
            status=int(data["status"]),
            reason=str(data.get("reason", "")),
            http_version=str(data.get("http_version", "HTTP/1.1")),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=Body.from_dict(data["body"]),
        )


@dataclass(frozen=True)
class Exchange:
    """One request and (unless the transport failed) its response, redacted."""

    id: str
    test_id: str | None
    started_at: float  # epoch seconds
    elapsed_ms: float | None  # None while no response has arrived
    request: RequestSnapshot
    response: ResponseSnapshot | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "test_id": self.test_id,
            "started_at": self.started_at,
            "elapsed_ms": self.elapsed_ms,
            "request": self.request.to_dict(),
            "response": self.response.to_dict() if self.response is not None else None,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        response = data.get("response")
        elapsed = data.get("elapsed_ms")
        return cls(
            id=str(data["id"]),
            test_id=data.get("test_id"),
            started_at=float(data["started_at"]),
            elapsed_ms=float(elapsed) if elapsed is not None else None,
            request=RequestSnapshot.from_dict(data["request"]),
            response=ResponseSnapshot.from_dict(response) if response is not None else None,
            note=data.get("note"),
        )


# --- building snapshots -------------------------------------------------------------------------


def _is_text(content_type: str, data: bytes) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml")):
        return True
    if media:
        return False
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def snapshot_body(
    data: bytes | None,
    content_type: str,
    redactor: Redactor,
    *,
    limit: int = DEFAULT_BODY_LIMIT,
) -> Body:
    """Redact a body by its type (JSON keys, form fields, registered values, JWTs), then cut it."""
    if data is None:
        return Body(text="<body not read>", size=0)
    size = len(data)
    if size == 0:
        return Body(text="", size=0)
    if not _is_text(content_type, data):
        media = content_type.split(";", 1)[0].strip() or "application/octet-stream"
        return Body(text=f"<{size} bytes {media}>", size=size, binary=True)
    text = data.decode("utf-8", errors="replace")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        text = redactor.form(text)
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            text = redactor.text(text)
        else:
            text = json.dumps(redactor.json_value(parsed), ensure_ascii=False)
    if len(text) > limit:
        return Body(
            text=f"{text[:limit]}\n… [truncated: {size} bytes in full]",
            size=size,
            truncated=True,
        )
    return Body(text=text, size=size)


def snapshot_request(
    request: httpx.Request, redactor: Redactor, *, limit: int = DEFAULT_BODY_LIMIT
) -> RequestSnapshot:
    try:
        content: bytes | None = request.content
    except httpx.RequestNotRead:
        content = None
    return RequestSnapshot(
        method=request.method,
        url=redactor.url(str(request.url)),
        headers=tuple(redactor.headers(request.headers.multi_items())),
        body=snapshot_body(content, request.headers.get("content-type", ""), redactor, limit=limit),
    )


def snapshot_response(
    response: httpx.Response, redactor: Redactor, *, limit: int = DEFAULT_BODY_LIMIT
) -> ResponseSnapshot:
    try:
        content: bytes | None = response.content
    except httpx.ResponseNotRead:
        content = None
    return ResponseSnapshot(
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=response.http_version,
        headers=tuple(redactor.headers(response.headers.multi_items())),
        body=snapshot_body(
            content, response.headers.get("content-type", ""), redactor, limit=limit
        ),
    )


def exchange_from_response(
    response: httpx.Response,
    redactor: Redactor,
    *,
    test_id: str | None = None,
    note: str | None = None,
    limit: int = DEFAULT_BODY_LIMIT,
) -> Exchange:
    """Snapshot a response that was not recorded (e.g. from a client without hooks)."""
    try:
        elapsed_ms: float | None = response.elapsed.total_seconds() * 1000
    except RuntimeError:
        elapsed_ms = None
    return Exchange(
        id=uuid.uuid4().hex,
        test_id=test_id,
        started_at=time.time() - (elapsed_ms or 0) / 1000,
        elapsed_ms=elapsed_ms,
        request=snapshot_request(response.request, redactor, limit=limit),
        response=snapshot_response(response, redactor, limit=limit),
        note=note,
    )


# --- the recorder -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    id: str
    test_id: str | None
    started_at: float
    started_monotonic: float


class ExchangeRecorder:
    """Collects redacted exchanges from httpx clients. Thread-safe.

    The current test id is recorder-wide (not per thread), so requests a test sends from worker
    threads are attributed to that test.
    """

    def __init__(self, redactor: Redactor, *, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.redactor = redactor
        self.body_limit = body_limit
        self._lock = threading.Lock()
        self._exchanges: dict[str, Exchange] = {}  # insertion-ordered
        self._pending: dict[str, _Pending] = {}
        self._test_id: str | None = None

    # --- test scoping -------------------------------------------------------------------------

    @property
    def test_id(self) -> str | None:
        with self._lock:
            return self._test_id

    def set_test_id(self, test_id: str | None) -> None:
        with self._lock:
            self._test_id = test_id

    @contextmanager
    def scope(self, test_id: str | None) -> Iterator[None]:
        """Attribute every exchange inside the block to ``test_id``."""
        with self._lock:
            previous, self._test_id = self._test_id, test_id
        try:
            yield
        finally:
            with self._lock:
                self._test_id = previous

    # --- hooks --------------------------------------------------------------------------------

    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """Hooks for ``httpx.Client(event_hooks=...)``."""
        return {"request": [self._on_request], "response": [self._on_response]}

    def async_event_hooks(self) -> dict[str, list[Callable[..., Awaitable[Any]]]]:
        """Hooks for ``httpx.AsyncClient(event_hooks=...)``."""
        return {"request": [self._on_request_async], "response": [self._on_response_async]}

    def _on_request(self, request: httpx.Request) -> None:
        request.read()
        self._begin(request)

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        self._complete(response)

    async def _on_request_async(self, request: httpx.Request) -> None:
        await request.aread()
        self._begin(request)

    async def _on_response_async(self, response: httpx.Response) -> None:
        await response.aread()
        self._complete(response)

    def _begin(self, request: httpx.Request) -> None:
        exchange_id = uuid.uuid4().hex
        # The id travels with the request; a DPoP retry sends a new Request object, and a
        # re-sent one simply gets a new id here.
        request.extensions[EXCHANGE_ID_KEY] = exchange_id
        snapshot = snapshot_request(request, self.redactor, limit=self.body_limit)
        with self._lock:
            pending = _Pending(exchange_id, self._test_id, time.time(), time.monotonic())
            self._pending[exchange_id] = pending
            self._exchanges[exchange_id] = Exchange(
                id=exchange_id,
                test_id=pending.test_id,
                started_at=pending.started_at,
                elapsed_ms=None,
                request=snapshot,
                response=None,
            )

    def _complete(self, response: httpx.Response) -> None:
        exchange_id = response.request.extensions.get(EXCHANGE_ID_KEY)
        if not isinstance(exchange_id, str):
            return
        snapshot = snapshot_response(response, self.redactor, limit=self.body_limit)
        response.extensions[EXCHANGE_ID_KEY] = exchange_id
        with self._lock:
            pending = self._pending.pop(exchange_id, None)
            current = self._exchanges.get(exchange_id)
            if pending is None or current is None:
                return
            elapsed = (time.monotonic() - pending.started_monotonic) * 1000
            self._exchanges[exchange_id] = replace(current, elapsed_ms=elapsed, response=snapshot)

    # --- reading back -------------------------------------------------------------------------

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges.values())

    def for_test(self, test_id: str) -> list[Exchange]:
        with self._lock:
            return [e for e in self._exchanges.values() if e.test_id == test_id]

    def find(self, response: httpx.Response) -> Exchange | None:
        """The snapshot of ``response``, if it went through this recorder's hooks."""
        exchange_id = response.extensions.get(EXCHANGE_ID_KEY)
        if not isinstance(exchange_id, str):
            return None
        with self._lock:
            return self._exchanges.get(exchange_id)

    def annotate(self, response: httpx.Response, note: str) -> Exchange | None:
        """Attach a (redacted) note to the recorded exchange of ``response``."""
        exchange_id = response.extensions.get(EXCHANGE_ID_KEY)
        if not isinstance(exchange_id, str):
            return None
        clean = self.redactor.text(note)
        with self._lock:
            current = self._exchanges.get(exchange_id)
            if current is None:
                return None
            updated = replace(current, note=clean)
            self._exchanges[exchange_id] = updated
            return updated

    def write_jsonl(self, path: Path | str) -> int:
        """Write every exchange as one JSON object per line; returns how many were written."""
        exchanges = self.exchanges()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as out:
            for exchange in exchanges:
                out.write(json.dumps(exchange.to_dict(), ensure_ascii=False) + "\n")
        return len(exchanges)


def read_jsonl(path: Path | str) -> list[Exchange]:
    with Path(path).open(encoding="utf-8") as source:
        return [Exchange.from_dict(json.loads(line)) for line in source if line.strip()]
