"""Fixtures for testing the harness's checks against the fake resource server (real HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest
from fake_resource_server import FakeResourceServer

from conformance.localserver import serve_in_thread


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


@contextmanager
def _running(
    misbehaviour: str | None = None, **settings: float
) -> Iterator[tuple[FakeResourceServer, str]]:
    server = FakeResourceServer(misbehaviour, **settings)  # type: ignore[arg-type]
    with serve_in_thread(server.app()) as base:
        yield server, base


Running = Callable[..., AbstractContextManager[tuple[FakeResourceServer, str]]]


@pytest.fixture
def running() -> Running:
    """``with running("ignore_htu") as (server, base_url): ...``"""
    return _running
