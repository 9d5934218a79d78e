"""Fixtures for testing the harness's checks against the fake resource server (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fake_resource_server import Running, running_server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


@pytest.fixture
def running() -> Running:
    """``with running("ignore_htu") as (server, base_url): ...``"""
    return running_server
