"""Work that runs alongside an app: started in order with its lifespan, stopped in reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import httpx


class BackgroundTask(Protocol):
    """Something that runs alongside the app (e.g. the PDS sync's delivery loop)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ClosesHttp:
    """Closes a shared HTTP client when the app stops."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.http.aclose()


def background_lifespan(
    background: Sequence[BackgroundTask], on_stop: Callable[[], None] | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that starts ``background`` and stops what it started (also when a
    later start fails), then calls ``on_stop``."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        started: list[BackgroundTask] = []
        try:
            for task in background:
                await task.start()
                started.append(task)
            yield
        finally:
            for task in reversed(started):
                await task.stop()
            if on_stop is not None:
                on_stop()

    return lifespan
