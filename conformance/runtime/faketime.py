"""Clock skew for one reference service, through libfaketime (``LD_PRELOAD``).

Only wall-clock time moves: ``FAKETIME_DONT_FAKE_MONOTONIC`` keeps timers, timeouts and the
event loop on the real monotonic clock, so a skewed service still behaves, it just stamps
``Date`` headers, tokens and records with the wrong time (what CLOCK-01 must detect).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence

from conformance.errors import UsageError

# Where Debian's libfaketime package puts the library (multiarch directory varies).
HOST_LIBRARY_GLOB = "/usr/lib/*/faketime/libfaketime.so.1"
# Where the reference image links it (docs/docker.md).
IMAGE_LIBRARY = "/usr/local/lib/faketime/libfaketime.so.1"
# A skew larger than this is a typo, not a test.
MAX_OFFSET_S = 86_400.0


def faketime_env(offset_s: float, library: str) -> dict[str, str]:
    """The env vars that shift one process's wall clock by ``offset_s`` seconds."""
    return {
        "LD_PRELOAD": library,
        "FAKETIME": f"{offset_s:+g}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def host_library() -> str | None:
    """libfaketime on this host, if installed (``apt-get install libfaketime``)."""
    found = sorted(glob.glob(HOST_LIBRARY_GLOB))
    return found[0] if found else None


def parse_clock_skews(values: Sequence[str], services: Sequence[str]) -> dict[str, float]:
    """``["pds=30", "stratos=-12.5"]`` -> {"pds": 30.0, "stratos": -12.5} (seconds)."""
    out: dict[str, float] = {}
    for value in values:
        name, sep, amount = value.partition("=")
        name = name.strip()
        if not sep or not name or not amount.strip():
            raise UsageError(f"--skew-clock: expected SERVICE=SECONDS, got {value!r}")
        if name not in services:
            raise UsageError(
                f"--skew-clock: {name} is not started for this profile "
                f"(started: {', '.join(services)})"
            )
        try:
            offset = float(amount.removesuffix("s"))
        except ValueError:
            raise UsageError(
                f"--skew-clock: {name}: {amount!r} is not a number of seconds"
            ) from None
        if not abs(offset) <= MAX_OFFSET_S:
            raise UsageError(f"--skew-clock: {name}: keep the skew within ±{MAX_OFFSET_S:g} s")
        out[name] = offset
    return out
