"""Fixtures of the Hold tests: one real reference PDS for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from hold_support import Pds
from oauth_client_support import new_account

from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services


@pytest.fixture(scope="session")
def hold_pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    base = tmp_path_factory.mktemp("hold-pds")
    with ProcessRuntime(base / "data", base / "logs", base_env=dict(os.environ)) as runtime:
        url = runtime.start(reference_services("identity", pick_free_ports(["pds"])))["pds"]
        with httpx.Client(timeout=30) as http:
            crew, outsider = new_account(http, url), new_account(http, url)
        yield Pds(url, crew, outsider)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
