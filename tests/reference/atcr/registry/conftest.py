"""Fixtures for the registry-layer tests (see registry_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from registry_support import RunningRegistry, running_registry


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One registry per test module; tests use distinct repository paths."""
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running
