"""Where the ATProto interop test vectors are (they are read from there, never copied here).

Order: ``$ATPROTO_INTEROP_TESTS``; ``../shared/reference/atproto-interop-tests`` beside the
checkout; the machine-wide ``/work/shared/...`` copy (so a clean clone anywhere on the machine,
as CI makes, still finds them). None when absent: the tests that need them skip.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "ATPROTO_INTEROP_TESTS"
RELATIVE = Path("shared/reference/atproto-interop-tests")
REPO = Path(__file__).resolve().parents[1]


def candidates() -> list[Path]:
    found = [Path(os.environ[ENV])] if os.environ.get(ENV) else []
    return [*found, REPO.parent / RELATIVE, Path("/work") / RELATIVE]


def interop_vectors() -> Path | None:
    if os.environ.get(ENV):
        path = Path(os.environ[ENV])
        return path if path.is_dir() else None
    return next((p for p in candidates() if p.is_dir()), None)
