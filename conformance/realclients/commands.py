"""Running one client command with a time bound, and keeping it as redacted evidence."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conformance.redact import Redactor

OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class CommandStep:
    """One command a real client ran. ``argv`` and ``output`` are already redacted;
    ``exit_code`` is None when the command could not start or hit its timeout."""

    label: str
    argv: tuple[str, ...]
    exit_code: int | None
    output: str
    elapsed_s: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        status = "timed out / did not start" if self.exit_code is None else f"exit {self.exit_code}"
        tail = self.output.strip().splitlines()[-3:]
        return f"{self.label}: `{' '.join(self.argv)}` {status} after {self.elapsed_s:.1f} s" + (
            f" — {' | '.join(tail)}" if tail else ""
        ) + (f" ({self.note})" if self.note else "")


def run_step(
    label: str,
    argv: Sequence[str],
    *,
    redactor: Redactor,
    timeout: float,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandStep:
    """Run ``argv`` (no shell) with ``stdin`` for at most ``timeout`` seconds."""
    if stdin:
        redactor.add(stdin.strip())
    shown = tuple(redactor.text(a) for a in argv)
    merged = {**os.environ, **(env or {})}
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv of a known client, no shell
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout,
            env=merged, cwd=cwd, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        return CommandStep(label, shown, None, redactor.text(output)[-OUTPUT_TAIL:],
                           time.monotonic() - started, f"no exit within {timeout:g} s")
    except OSError as exc:
        return CommandStep(label, shown, None, redactor.text(str(exc)),
                           time.monotonic() - started, "could not start")
    output = (done.stdout or "") + (done.stderr or "")
    return CommandStep(label, shown, done.returncode, redactor.text(output)[-OUTPUT_TAIL:],
                       time.monotonic() - started)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
