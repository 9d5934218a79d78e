"""XRPC dispatch: ``/xrpc/<nsid>`` → a handler, with the lexicon enforced at the edges.

Parameters and JSON inputs are validated against the lexicon before a handler runs (XRPC-03),
JSON outputs after it returns (XRPC-04), and unknown methods answer ``501 MethodNotImplemented``
(XRPC-01). Handlers are plain functions of an ``XrpcRequest``; blocking ones (SQLite) run in the
thread pool so the event loop keeps serving.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lexicons import Catalog, LexiconValidationError

from .errors import XrpcError, invalid_request

log = logging.getLogger("reference_impl.xrpc")

AuthMode = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class AuthResult:
    """Who is calling, plus headers the auth layer wants on the response (e.g. ``DPoP-Nonce``)."""

    principal: Any
    response_headers: Mapping[str, str] = field(default_factory=dict)


# Resolves the caller from the request; returns None when no credentials were sent and raises
# XrpcError when credentials were sent but are not acceptable.
Authenticator = Callable[[Request], Awaitable[AuthResult | None]]


@dataclass(frozen=True)
class XrpcRequest:
    nsid: str
    params: dict[str, Any]
    body: Any
    raw_body: bytes | None
    content_type: str | None
    principal: Any
    http: Request


@dataclass(frozen=True)
class Blob:
    """A binary XRPC output (CAR files, blob bytes)."""

    data: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[XrpcRequest], Any]


@dataclass(frozen=True)
class _Method:
    nsid: str
    kind: Literal["query", "procedure"]
    handler: Handler
    auth: AuthMode


async def _no_auth(request: Request) -> AuthResult | None:
    return None


class XrpcRouter:
    def __init__(
        self,
        catalog: Catalog,
        authenticate: Authenticator = _no_auth,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.catalog = catalog
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self._methods: dict[str, _Method] = {}

    def query(self, nsid: str, auth: AuthMode = "none") -> Callable[[Handler], Handler]:
        return self._register(nsid, "query", auth)

    def procedure(self, nsid: str, auth: AuthMode = "required") -> Callable[[Handler], Handler]:
        return self._register(nsid, "procedure", auth)

    def _register(
        self, nsid: str, kind: Literal["query", "procedure"], auth: AuthMode
    ) -> Callable[[Handler], Handler]:
        schema = self.catalog.method(nsid)
        if schema is None and not nsid.startswith("_"):
            raise ValueError(f"no lexicon for {nsid}")
        if schema is not None and schema.kind != kind:
            raise ValueError(f"{nsid} is a {schema.kind}, not a {kind}")

        def register(handler: Handler) -> Handler:
            self._methods[nsid] = _Method(nsid, kind, handler, auth)
            return handler

        return register

    def routes(self) -> list[Route]:
        return [Route("/xrpc/{nsid}", self.endpoint, methods=["GET", "HEAD", "POST"])]

    def implemented(self) -> frozenset[str]:
        return frozenset(self._methods)

    async def endpoint(self, request: Request) -> Response:
        nsid = request.path_params["nsid"]
        method = self._methods.get(nsid)
        if method is None:
            raise XrpcError(501, "MethodNotImplemented", f"Method not implemented: {nsid}")
        expected_verb = "POST" if method.kind == "procedure" else "GET"
        if request.method != expected_verb and not (
            request.method == "HEAD" and expected_verb == "GET"
        ):
            raise XrpcError(
                405,
                "InvalidRequest",
                f"{nsid} is a {method.kind}; use {expected_verb}",
                headers={"Allow": expected_verb},
            )

        auth = await self.authenticate(request) if method.auth != "none" else None
        if method.auth == "required" and auth is None:
            raise XrpcError(401, "AuthRequired", "Authentication required")

        params = self._params(request, nsid)
        body, raw_body, content_type = await self._input(request, nsid, method)
        xrpc_request = XrpcRequest(
            nsid=nsid,
            params=params,
            body=body,
            raw_body=raw_body,
            content_type=content_type,
            principal=auth.principal if auth else None,
            http=request,
        )
        if inspect.iscoroutinefunction(method.handler):
            result = await method.handler(xrpc_request)
        else:
            result = await run_in_threadpool(method.handler, xrpc_request)
        response = self._output(nsid, result)
        if auth is not None:
            response.headers.update(auth.response_headers)
        return response

    def _params(self, request: Request, nsid: str) -> dict[str, Any]:
        raw: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            raw.setdefault(key, []).append(value)
        if self.catalog.method(nsid) is None:
            return {k: v[-1] for k, v in raw.items()}
        try:
            return self.catalog.validate_params(nsid, raw)
        except LexiconValidationError as exc:
            raise invalid_request(f"Invalid parameters: {exc}") from exc

    async def _input(
        self, request: Request, nsid: str, method: _Method
    ) -> tuple[Any, bytes | None, str | None]:
        if method.kind != "procedure":
            return None, None, None
        schema = self.catalog.method(nsid)
        encoding = schema.input_encoding if schema else None
        content_type = (request.headers.get("content-type") or "").split(";")[
            0
        ].strip().lower() or None
        raw = await self._read_body(request)
        if encoding is None:
            return None, raw or None, content_type
        if encoding == "application/json":
            if content_type != "application/json":
                raise invalid_request(
                    f"Expected application/json input, got {content_type or 'no content type'}"
                )
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise invalid_request(f"Request body is not valid JSON: {exc}") from exc
            try:
                self.catalog.validate_input(nsid, body)
            except LexiconValidationError as exc:
                raise invalid_request(f"Invalid input: {exc}") from exc
            return body, raw, content_type
        if encoding not in ("*/*", content_type) and not _media_range_matches(
            encoding, content_type
        ):
            raise invalid_request(
                f"Expected {encoding} input, got {content_type or 'no content type'}"
            )
        return None, raw, content_type

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise XrpcError(
                413, "PayloadTooLarge", f"Request body over {self.max_body_bytes} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise XrpcError(
                    413, "PayloadTooLarge", f"Request body over {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _output(self, nsid: str, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, Blob):
            return Response(
                result.data, media_type=result.content_type, headers=dict(result.headers)
            )
        if result is None:
            return Response(status_code=200)
        if self.catalog.method(nsid) is not None:
            try:
                self.catalog.validate_output(nsid, result)
            except LexiconValidationError as exc:
                # A reference bug, not a client error: log it loudly and do not send bad data.
                log.error("output of %s violates its lexicon: %s", nsid, exc)
                raise XrpcError(
                    500, "InternalServerError", "Response failed output validation"
                ) from exc
        return JSONResponse(result)


def _media_range_matches(pattern: str, content_type: str | None) -> bool:
    if content_type is None:
        return False
    if pattern.endswith("/*"):
        return content_type.startswith(pattern[:-1])
    return pattern == content_type
