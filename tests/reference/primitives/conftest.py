from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def interop_json(interop_dir: Path) -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        file = interop_dir / relative
        if not file.is_file():
            pytest.skip(f"interop vector file missing: {file}")
        return json.loads(file.read_text(encoding="utf-8"))

    return load
