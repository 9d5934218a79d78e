"""A real reference PDS process for these tests (started by module name, on a free port)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services


@dataclass
class RunningPds:
    runtime: ProcessRuntime
    url: str

    def xrpc(self, nsid: str) -> str:
        return f"{self.url}/xrpc/{nsid}"


@pytest.fixture(scope="module")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPds]:
    base: Path = tmp_path_factory.mktemp("pds")
    with ProcessRuntime(base / "data", base / "logs") as runtime:
        urls = runtime.start(reference_services("identity", pick_free_ports(["pds"])))
        yield RunningPds(runtime, urls["pds"])


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
