"""Where the shared, read-only project inputs are: the spec and the ATProto interop vectors.

They live outside the repository and are read from there, never copied in. The shared folder is
``$ATCONFORM_SHARED_DIR``; else ``../shared`` beside the checkout; else the machine-wide
``/work/shared`` (so a clean clone anywhere on the machine, as CI makes, still finds it). The
vectors may also be pointed at directly with ``$ATPROTO_INTEROP_TESTS``. Tests that need a
missing input skip.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_ENV = "ATCONFORM_SHARED_DIR"
INTEROP_ENV = "ATPROTO_INTEROP_TESTS"
REPO = Path(__file__).resolve().parents[2]


def shared_candidates() -> list[Path]:
    found = [Path(os.environ[SHARED_ENV])] if os.environ.get(SHARED_ENV) else []
    return [*found, REPO.parent / "shared", Path("/work/shared")]


def shared_path(relative: str) -> Path | None:
    """The first existing ``<shared folder>/<relative>``, or None."""
    paths = (base / relative for base in shared_candidates())
    return next((path for path in paths if path.exists()), None)


def interop_vectors() -> Path | None:
    if os.environ.get(INTEROP_ENV):
        path = Path(os.environ[INTEROP_ENV])
        return path if path.is_dir() else None
    return shared_path("reference/atproto-interop-tests")
