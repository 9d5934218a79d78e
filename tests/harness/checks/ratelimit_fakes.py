"""A small fake Stratos (+ its AppView feed) for testing the STR-BND and STR-RL checks over real
HTTP, correct by default and broken on request.

Callers authenticate with ``Authorization: Bearer <did>`` (``FakeAuth``); the fake knows each
DID's qualified domains. It keeps records in memory, applies the boundary rule, a fixed-window
per-DID write limit with ``RateLimit-*`` headers, and indexes posts into a timeline after
``index_delay_s``. Faults (``FakeStratos(faults={...})``):

boundaries: ``owner-only``, ``hidden-403``, ``hidden-message-names-uri``, ``hidden-extra-header``,
``hidden-served``, ``blocked-hidden``, ``filter-after-limit``, ``cursor-reveals``,
``sync-no-boundary``, ``sync-hidden-403``, ``accept-forbidden``, ``accept-mismatch``,
``wrong-reason``, ``slow-hidden``, ``never-index``, ``timeline-leak``;
rate limits: ``no-headers``, ``no-countdown``, ``no-retry-after``, ``shared-limiter``,
``reads-counted``, ``reads-refused-when-limited``, ``batch-counts-one``, ``over-limit``,
``never-resets``, ``slow-when-limited``, ``no-error-name``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import serve_in_thread
from conformance.scenarios.stratos_access import random_tid

SERVICE_DID = "did:web:stratos.fake"
ENGINEERING = f"{SERVICE_DID}/engineering"
DESIGN = f"{SERVICE_DID}/design"
OWNER = "did:plc:owner0000000000000000000"
PEER = "did:plc:peer00000000000000000000"
OUTSIDER = "did:plc:outsider000000000000000"
POST = "zone.stratos.feed.post"

NOT_FOUND = {"error": "RecordNotFound", "message": "Record not found"}


class FakeAuth(httpx.Auth):
    """The fake's stand-in for DPoP: the caller's DID as a bearer token."""

    def __init__(self, did: str) -> None:
        self.did = did

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.did}"
        yield request


@dataclass
class Window:
    start: float
    count: int = 0


@dataclass
class StoredRecord:
    did: str
    collection: str
    rkey: str
    value: dict[str, Any]
    cid: str
    written_at: float

    @property
    def uri(self) -> str:
        return f"at://{self.did}/{self.collection}/{self.rkey}"

    @property
    def domains(self) -> set[str]:
        boundary = self.value.get("boundary") or {}
        return {v["value"] for v in boundary.get("values", []) if isinstance(v, dict)}


@dataclass
class FakeStratos:
    faults: frozenset[str] = frozenset()
    enrollments: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {
            OWNER: frozenset({ENGINEERING}),
            PEER: frozenset({ENGINEERING}),
            OUTSIDER: frozenset({DESIGN}),
        }
    )
    limit: int = 12
    window_s: int = 2
    index_delay_s: float = 0.2

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[tuple[str, str, str], StoredRecord] = {}
        self.windows: dict[str, Window] = {}
        self.clock_us = time.time_ns() // 1000
        self.limited_dids: set[str] = set()

    # --- plumbing ------------------------------------------------------------------------------

    def _viewer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :]
        return None

    def _next_rkey(self) -> str:
        with self.lock:
            self.clock_us += 1
            return random_tid(self.clock_us)

    def may_read(self, viewer: str | None, record: StoredRecord) -> bool:
        if viewer is None:
            return False
        if viewer == record.did:
            return True
        if "owner-only" in self.faults:
            return False
        if "hidden-served" in self.faults:
            return True
        domains = record.domains
        return not domains or bool(domains & self.enrollments.get(viewer, frozenset()))

    def _hidden_answer(self, record: StoredRecord) -> Response:
        if "slow-hidden" in self.faults:
            time.sleep(0.015)
        if "hidden-403" in self.faults:
            return JSONResponse({"error": "Forbidden", "message": "Not allowed"}, 403)
        if "hidden-message-names-uri" in self.faults:
            return JSONResponse(
                {"error": "RecordNotFound", "message": f"Record not found: {record.uri}"}, 404
            )
        if "hidden-extra-header" in self.faults:
            return JSONResponse(NOT_FOUND, 404, headers={"X-Boundary": "hidden"})
        return JSONResponse(NOT_FOUND, 404)

    def _read(self, viewer: str | None, key: tuple[str, str, str]) -> Response | StoredRecord:
        record = self.records.get(key)
        if record is None:
            return JSONResponse(NOT_FOUND, 404)
        if not self.may_read(viewer, record) and "hidden-served" not in self.faults:
            return self._hidden_answer(record)
        return record

    @staticmethod
    def _view(record: StoredRecord) -> dict[str, Any]:
        return {"uri": record.uri, "cid": record.cid, "value": record.value}

    # --- rate limit ----------------------------------------------------------------------------

    def _window(self, did: str) -> Window:
        key = "*" if "shared-limiter" in self.faults else did
        now = time.monotonic()
        window = self.windows.get(key)
        if window is None or (
            now >= window.start + self.window_s and "never-resets" not in self.faults
        ):
            window = Window(now)
            self.windows[key] = window
        return window

    def _headers(self, window: Window) -> dict[str, str]:
        if "no-headers" in self.faults:
            return {}
        remaining = max(0, self.limit - window.count)
        if "no-countdown" in self.faults:
            remaining = self.limit - 1
        reset = max(1, math.ceil(window.start + self.window_s - time.monotonic()))
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }

    def _count(self, did: str, ops: int) -> tuple[bool, dict[str, str]]:
        if "batch-counts-one" in self.faults:
            ops = 1
        allowed = self.limit + (5 if "over-limit" in self.faults else 0)
        with self.lock:
            window = self._window(did)
            if window.count + ops > allowed:
                self.limited_dids.add(did)
                headers = self._headers(window)
                if "no-headers" not in self.faults:
                    headers["RateLimit-Remaining"] = "0"
                if "no-retry-after" not in self.faults:
                    headers["Retry-After"] = headers.get(
                        "RateLimit-Reset",
                        str(max(1, math.ceil(window.start + self.window_s - time.monotonic()))),
                    )
                return False, headers
            window.count += ops
            self.limited_dids.discard(did)
            return True, self._headers(window)

    def _count_read(self, viewer: str | None) -> Response | None:
        if viewer is None:
            return None
        if "reads-counted" in self.faults:
            with self.lock:
                self._window(viewer).count += 1
        if "reads-refused-when-limited" in self.faults and viewer in self.limited_dids:
            return JSONResponse({"error": "RateLimitExceeded", "message": "slow down"}, 429)
        return None

    def _refusal(self, headers: dict[str, str]) -> Response:
        body = (
            {"error": "TooManyRequests"}
            if "no-error-name" in self.faults
            else {"error": "RateLimitExceeded", "message": "Rate limit exceeded"}
        )
        return JSONResponse(body, 429, headers=headers)

    # --- writes --------------------------------------------------------------------------------

    def _boundary_error(self, viewer: str, value: Mapping[str, Any]) -> Response | None:
        record = StoredRecord(viewer, POST, "x", dict(value), "", 0)
        for domain in sorted(record.domains):
            if not domain.startswith(f"{SERVICE_DID}/"):
                if "accept-mismatch" in self.faults:
                    continue
                return JSONResponse(
                    {"error": "InvalidRecord", "message": "boundary", "reason": "ServiceMismatch"},
                    400,
                )
            if domain not in self.enrollments.get(viewer, frozenset()):
                if "accept-forbidden" in self.faults:
                    continue
                reason = "Forbidden" if "wrong-reason" in self.faults else "ForbiddenBoundary"
                return JSONResponse(
                    {"error": "InvalidRecord", "message": "boundary", "reason": reason}, 400
                )
        return None

    def _store(self, did: str, collection: str, rkey: str, value: dict[str, Any]) -> StoredRecord:
        cid = (
            "bafyrei" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:40]
        )
        record = StoredRecord(did, collection, rkey, value, cid, time.monotonic())
        self.records[(did, collection, rkey)] = record
        return record

    def _slow(self, did: str) -> None:
        if "slow-when-limited" in self.faults and self.limited_dids - {did}:
            time.sleep(0.2)

    async def write(self, request: Request, nsid: str) -> Response:
        viewer = self._viewer(request)
        body = json.loads(await request.body() or b"{}")
        if viewer is None or body.get("repo") != viewer:
            return JSONResponse({"error": "AuthRequired", "message": "no"}, 401)
        self._slow(viewer)
        if nsid == "com.atproto.repo.applyWrites":
            ops = body.get("writes") or []
        else:
            ops = [
                {
                    "collection": body.get("collection"),
                    "rkey": body.get("rkey"),
                    "value": body.get("record"),
                }
            ]
        for op in ops:
            if (error := self._boundary_error(viewer, op.get("value") or {})) is not None:
                return error
        ok, headers = self._count(viewer, len(ops))
        if not ok:
            return self._refusal(headers)
        results = []
        for op in ops:
            rkey = op.get("rkey") or self._next_rkey()
            stored = self._store(viewer, op.get("collection") or POST, rkey, dict(op.get("value")))
            results.append({"uri": stored.uri, "cid": stored.cid})
        commit = {"cid": "bafycommit", "rev": random_tid()}
        out = (
            {**results[0], "commit": commit}
            if nsid != "com.atproto.repo.applyWrites"
            else {"commit": commit, "results": results}
        )
        return JSONResponse(out, headers=headers)

    # --- reads ---------------------------------------------------------------------------------

    def list_records(self, viewer: str | None, params: Mapping[str, str]) -> Response:
        did, collection = params.get("repo", ""), params.get("collection", POST)
        limit = int(params.get("limit", "50"))
        cursor = params.get("cursor")
        rows = sorted(
            (r for (d, c, _), r in self.records.items() if d == did and c == collection),
            key=lambda r: r.rkey,
        )
        if cursor:
            rows = [r for r in rows if r.rkey > cursor]
        out: list[StoredRecord] = []
        next_cursor: str | None = None
        if "filter-after-limit" in self.faults:
            scanned = rows[:limit]
            out = [r for r in scanned if self.may_read(viewer, r)]
            if len(rows) > limit:
                next_cursor = scanned[-1].rkey
        else:
            index = 0
            while index < len(rows) and len(out) < limit:
                if self.may_read(viewer, rows[index]):
                    out.append(rows[index])
                index += 1
            if len(out) == limit:
                next_cursor = out[-1].rkey
                if "cursor-reveals" in self.faults:
                    while index < len(rows) and not self.may_read(viewer, rows[index]):
                        next_cursor = rows[index].rkey
                        index += 1
        body: dict[str, Any] = {"records": [self._view(r) for r in out]}
        if next_cursor:
            body["cursor"] = next_cursor
        return JSONResponse(body)

    def hydrate_many(self, viewer: str | None, uris: list[str]) -> Response:
        records, not_found, blocked = [], [], []
        for uri in uris:
            did, collection, rkey = uri[len("at://") :].split("/")
            record = self.records.get((did, collection, rkey))
            if record is None:
                not_found.append(uri)
            elif self.may_read(viewer, record):
                records.append(self._view(record))
            elif "blocked-hidden" in self.faults:
                blocked.append(uri)
            else:
                not_found.append(uri)
        return JSONResponse({"records": records, "notFound": not_found, "blocked": blocked})

    def timeline(self, viewer: str | None) -> Response:
        if viewer is None:
            return JSONResponse({"error": "AuthRequired", "message": "no"}, 401)
        now = time.monotonic()
        feed = []
        for record in sorted(self.records.values(), key=lambda r: r.written_at, reverse=True):
            if record.collection != POST or "never-index" in self.faults:
                continue
            if now < record.written_at + self.index_delay_s:
                continue
            if self.may_read(viewer, record) or "timeline-leak" in self.faults:
                feed.append(
                    {
                        "post": {
                            "uri": record.uri,
                            "cid": record.cid,
                            "author": {"did": record.did},
                            "record": record.value,
                            "indexedAt": "2026-11-20T12:00:00.000Z",
                        }
                    }
                )
        return JSONResponse({"feed": feed[:100]})

    async def xrpc(self, request: Request) -> Response:
        nsid = request.path_params["nsid"]
        viewer = self._viewer(request)
        params = dict(request.query_params)
        if nsid in (
            "com.atproto.repo.createRecord",
            "com.atproto.repo.putRecord",
            "com.atproto.repo.applyWrites",
        ):
            return await self.write(request, nsid)
        if (refused := self._count_read(viewer)) is not None:
            return refused
        if nsid == "com.atproto.repo.getRecord":
            key = (params.get("repo", ""), params.get("collection", ""), params.get("rkey", ""))
            found = self._read(viewer, key)
            return found if isinstance(found, Response) else JSONResponse(self._view(found))
        if nsid == "zone.stratos.repo.hydrateRecord":
            did, collection, rkey = params.get("uri", "at://x/y/z")[len("at://") :].split("/")
            found = self._read(viewer, (did, collection, rkey))
            return found if isinstance(found, Response) else JSONResponse(self._view(found))
        if nsid == "zone.stratos.repo.hydrateRecords":
            body = json.loads(await request.body() or b"{}")
            return self.hydrate_many(viewer, list(body.get("uris") or []))
        if nsid == "com.atproto.repo.listRecords":
            return self.list_records(viewer, params)
        if nsid == "com.atproto.repo.describeRepo":
            return JSONResponse({"did": params.get("repo"), "collections": [POST]})
        if nsid == "com.atproto.sync.getRecord":
            key = (params.get("did", ""), params.get("collection", ""), params.get("rkey", ""))
            record = self.records.get(key)
            if record is None:
                return JSONResponse(NOT_FOUND, 404)
            if not self.may_read(viewer, record) and "sync-no-boundary" not in self.faults:
                if "sync-hidden-403" in self.faults:
                    return JSONResponse({"error": "Forbidden", "message": "Not allowed"}, 403)
                return self._hidden_answer(record)
            return Response(
                b"\x0afake-car" + record.cid.encode(), media_type="application/vnd.ipld.car"
            )
        if nsid == "zone.stratos.feed.getTimeline":
            return self.timeline(viewer)
        return JSONResponse({"error": "MethodNotImplemented", "message": nsid}, 501)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/xrpc/{nsid}", self.xrpc, methods=["GET", "POST"])])


@contextmanager
def running_stratos(**kwargs: Any) -> Iterator[tuple[FakeStratos, str]]:
    """``with running_stratos(faults={"hidden-403"}) as (fake, base_url): ...``"""
    faults = frozenset(kwargs.pop("faults", ()))
    fake = FakeStratos(faults=faults, **kwargs)
    with serve_in_thread(fake.app()) as base:
        yield fake, base
