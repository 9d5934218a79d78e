"""Taking a target's service down and bringing it back, for outage checks (ATCR-HOLD-04).

The embedded default controls its own processes or containers; a remote target may name shell
commands in its profile (``[atcr] hold_stop`` / ``hold_start``); otherwise nothing can be
controlled and the checks that need it are ``disabled``. Suites get one of these as the
``service_control`` fixture.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from collections.abc import Mapping
from typing import Protocol

from conformance.errors import HarnessError
from conformance.runtime.base import ServiceRuntime

COMMAND_TIMEOUT_S = 120


class ServiceControl(Protocol):
    def can_control(self, name: str) -> bool: ...

    def stop(self, name: str) -> None: ...

    def start(self, name: str) -> None:
        """Bring the service back and wait until it is healthy."""
        ...


class NoControl:
    def can_control(self, name: str) -> bool:
        return False

    def stop(self, name: str) -> None:
        raise HarnessError(f"this target gives no way to stop {name}")

    def start(self, name: str) -> None:
        raise HarnessError(f"this target gives no way to start {name}")


class RuntimeControl:
    """The embedded runtime's own services (processes or containers): SIGTERM to stop, same
    port and data to start."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    def can_control(self, name: str) -> bool:
        return name in self.runtime.urls

    def stop(self, name: str) -> None:
        self.runtime.kill(name, signal.SIGTERM)

    def start(self, name: str) -> None:
        self.runtime.restart(name)


class CommandControl:
    """Shell commands from the target profile, per service: name -> (stop, start)."""

    def __init__(self, commands: Mapping[str, tuple[str, str]]) -> None:
        self.commands = dict(commands)

    def can_control(self, name: str) -> bool:
        return name in self.commands

    def stop(self, name: str) -> None:
        self._run(name, self.commands[name][0])

    def start(self, name: str) -> None:
        self._run(name, self.commands[name][1])

    def _run(self, name: str, command: str) -> None:
        try:
            done = subprocess.run(  # noqa: S603 - the user's own command from their profile
                shlex.split(command),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HarnessError(f"{name} control command failed: {exc}") from None
        if done.returncode != 0:
            raise HarnessError(
                f"{name} control command exited {done.returncode}: {done.stderr.strip()[-200:]}"
            )
