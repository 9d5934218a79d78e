"""Fixtures for the reference Stratos tests (see stratos_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stratos_support import RunningStratos, running_stratos


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStratos]:
    """One open-enrolment service shared by a test module; tests use fresh DIDs."""
    with running_stratos(tmp_path_factory.mktemp("stratos")) as running:
        yield running
