"""What every way of running the reference services offers the harness (process or docker)."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from conformance.runtime.process import ServiceSpec


class ServiceRuntime(Protocol):
    """Starts, watches, disturbs and stops reference services; a context manager that stops
    (and removes) everything on exit."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def start(self, specs: Sequence[ServiceSpec]) -> dict[str, str]:
        """Start every service, wait until each is healthy; name -> URL."""
        ...

    def stop(self) -> None: ...

    @property
    def urls(self) -> dict[str, str]: ...

    @property
    def description(self) -> str:
        """How the services run, for the report's notes."""
        ...

    @property
    def log_paths(self) -> dict[str, Path]: ...

    def exited(self) -> dict[str, int]:
        """Services that have stopped on their own: name -> exit code."""
        ...

    def log_tail(self, name: str, lines: int = 20) -> str: ...

    def log_location(self, name: str) -> str:
        """Where a person reads the service's log while it runs."""
        ...

    def pid(self, name: str) -> int:
        """Host process id of a running service (for resource measurements)."""
        ...

    # Fault control (docs/docker.md, "Fault control").
    def kill(self, name: str, sig: int = signal.SIGKILL) -> None: ...

    def restart(self, name: str) -> str:
        """Start a stopped or killed service again on the same port and data; wait healthy."""
        ...

    def pause(self, name: str) -> None: ...

    def resume(self, name: str) -> None: ...
