"""A thin XRPC client: it sends, the checks judge.

``query``/``procedure`` return the raw ``httpx.Response`` whatever its status. Setup code (where a
failure means the harness cannot run, not that the target is wrong) uses ``expect_ok``, which
raises ``XrpcCallFailed``; the suites turn that into an *error*, never a *fail* (it is
deliberately not an ``AssertionError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

ParamValue = str | int | bool | None | Iterable[str | int | bool]
AuthArg = httpx.Auth | None


@dataclass(frozen=True)
class XrpcError:
    """The XRPC error envelope of a non-2xx response (fields empty when the body is not one)."""

    status: int
    error: str
    message: str

    @classmethod
    def from_response(cls, response: httpx.Response) -> XrpcError:
        error, message = "", ""
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            raw_error, raw_message = body.get("error"), body.get("message")
            error = raw_error if isinstance(raw_error, str) else ""
            message = raw_message if isinstance(raw_message, str) else ""
        return cls(status=response.status_code, error=error, message=message)


class XrpcCallFailed(Exception):
    """A setup call did not succeed; the harness cannot go on with this test."""

    def __init__(self, status: int, error: str, message: str, *, nsid: str | None = None) -> None:
        where = f"{nsid}: " if nsid else ""
        detail = f"{error}: {message}" if message else (error or "no XRPC error body")
        super().__init__(f"{where}HTTP {status} {detail}")
        self.status = status
        self.error = error
        self.message = message
        self.nsid = nsid


def _nsid_of(response: httpx.Response) -> str | None:
    path = response.request.url.path
    return path.rsplit("/", 1)[-1] if "/xrpc/" in path else None


def expect_ok(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx response (``{}`` when it has no body); else ``XrpcCallFailed``."""
    if not response.is_success:
        err = XrpcError.from_response(response)
        raise XrpcCallFailed(err.status, err.error, err.message, nsid=_nsid_of(response))
    if not response.content:
        return {}
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XrpcCallFailed(
            response.status_code, "", f"response is not JSON ({exc})", nsid=_nsid_of(response)
        ) from exc
    if not isinstance(body, dict):
        raise XrpcCallFailed(
            response.status_code, "", "response is not a JSON object", nsid=_nsid_of(response)
        )
    return body


def _param_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_params(params: Mapping[str, ParamValue] | None) -> tuple[tuple[str, str], ...]:
    """XRPC query parameters: lists as repeated keys, booleans as true/false, None dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, str | int | bool):
            pairs.append((key, _param_text(value)))
        else:
            pairs.extend((key, _param_text(item)) for item in value)
    return tuple(pairs)


class XrpcClient:
    """Sends XRPC calls to one service (``base_url`` without ``/xrpc``)."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    def __repr__(self) -> str:
        return f"XrpcClient({self.base_url!r})"

    def url(self, nsid: str) -> str:
        return f"{self.base_url}/xrpc/{nsid}"

    def query(
        self,
        nsid: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        auth: AuthArg = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.http.get(
            self.url(nsid),
            params=encode_params(params),
            headers=httpx.Headers(headers or {}),
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )

    def procedure(
        self,
        nsid: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, ParamValue] | None = None,
        auth: AuthArg = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``body`` as JSON, or ``data`` as raw bytes with ``content_type``; or nothing."""
        if body is not None and data is not None:
            raise ValueError("pass either a JSON body or raw data, not both")
        send_headers = httpx.Headers(headers or {})
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode("utf-8")
            default_type = "application/json"
        elif data is not None:
            content = data
            default_type = "application/octet-stream"
        if content is not None and "content-type" not in send_headers:
            send_headers["Content-Type"] = content_type or default_type
        return self.http.post(
            self.url(nsid),
            content=content,
            params=encode_params(params),
            headers=send_headers,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
