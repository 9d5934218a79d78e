from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# tests/reference/primitives/conftest.py -> parents[4] is the directory holding main/ and shared/
_DEFAULT_INTEROP = Path(__file__).resolve().parents[4] / "shared/reference/atproto-interop-tests"


@pytest.fixture(scope="session")
def interop_dir() -> Path:
    path = Path(os.environ.get("ATPROTO_INTEROP_TESTS", _DEFAULT_INTEROP))
    if not path.is_dir():
        pytest.skip(f"atproto interop test vectors not found at {path}")
    return path


@pytest.fixture(scope="session")
def interop_json(interop_dir: Path) -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        file = interop_dir / relative
        if not file.is_file():
            pytest.skip(f"interop vector file missing: {file}")
        return json.loads(file.read_text(encoding="utf-8"))

    return load
