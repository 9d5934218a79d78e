"""HTTP to holds with the AppView's failure policy: fail fast, never hang (ATCR-HOLD-04).

Each call gets connect 2 s and at most 10 s in total; anything that goes wrong on the wire
becomes ``Unavailable`` so the client sees a 503 ``UNAVAILABLE`` within seconds. Part uploads
may take longer than 10 s in total for big parts, so they get the same connect limit and a 10 s
limit on every read/write instead of a total.

The ``hold-outage-hangs`` fault turns this into the classic bad client: no timeouts at all and
refused connections retried for up to 120 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..ports import Unavailable

CONNECT_TIMEOUT_S = 2.0
TOTAL_TIMEOUT_S = 10.0
HANG_RETRY_WINDOW_S = 120.0
HANG_RETRY_DELAY_S = 0.5

Sleep = Callable[[float], Awaitable[None]]


class HoldTransport:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        hangs: bool = False,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
        retry_window_s: float = HANG_RETRY_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._hangs = hangs
        self._connect_s = connect_timeout_s
        self._total_s = total_timeout_s
        self._retry_window_s = retry_window_s
        self._clock = clock
        self._sleep = sleep

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        streaming_body: bool = False,
        make_content: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; ``make_content`` builds the body afresh for every attempt (a consumed
        stream cannot be sent twice). Raises Unavailable for every transport failure."""
        if self._hangs:
            return await self._request_hanging(method, url, what, make_content, kwargs)
        timeout = httpx.Timeout(self._total_s, connect=self._connect_s)
        try:
            if streaming_body:
                # Bounded per read/write, not in total: see the module docstring.
                return await self._send(method, url, timeout, make_content, kwargs)
            async with asyncio.timeout(self._total_s):
                return await self._send(method, url, timeout, make_content, kwargs)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise Unavailable(
                f"the hold cannot be reached ({what}): {type(exc).__name__}"
            ) from None

    async def _request_hanging(
        self,
        method: str,
        url: str,
        what: str,
        make_content: Callable[[], Any] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        deadline = self._clock() + self._retry_window_s
        while True:
            try:
                return await self._send(method, url, httpx.Timeout(None), make_content, kwargs)
            except httpx.ConnectError:
                if self._clock() >= deadline:
                    raise Unavailable(f"the hold cannot be reached ({what})") from None
                await self._sleep(HANG_RETRY_DELAY_S)
            except httpx.HTTPError as exc:
                raise Unavailable(f"the hold failed ({what}): {type(exc).__name__}") from None

    async def _send(
        self,
        method: str,
        url: str,
        timeout: httpx.Timeout,
        make_content: Callable[[], Any] | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        if make_content is not None:
            kwargs = {**kwargs, "content": make_content()}
        return await self._http.request(
            method, url, timeout=timeout, follow_redirects=False, **kwargs
        )
