"""Fixtures for the harness-core tests: a stub target, synthetic suites, closed ports."""

from __future__ import annotations

import socket
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import serve_in_thread


def pytest_configure(config: pytest.Config) -> None:
    # `pytest_plugins = ["pytester"]` is refused in a non-top-level conftest (pytest 9), so the
    # plugin is loaded here instead; running `pytest -p pytester` works too.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture
def no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs see only the plugins a test names (as `atconform verify` does)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _stub_app() -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def echo(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers)})

    async def anything(request: Request) -> Response:
        return JSONResponse(
            {"error": "MethodNotImplemented", "message": "no such method"}, status_code=501
        )

    return Starlette(
        routes=[
            Route("/xrpc/_health", health),
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/{path:path}", anything, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    """A loopback HTTP server: /xrpc/_health 200, /echo, anything else 501 XRPC error."""
    with serve_in_thread(_stub_app()) as url:
        yield url


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SuiteWriter = Callable[..., Path]


@pytest.fixture
def write_suite(tmp_path: Path) -> SuiteWriter:
    """``write_suite(identity=SOURCE, ...)`` -> a suites dir with one test module per profile.

    Module names are unique per call: in-process pytest runs import suites in importlib mode,
    and a reused module name would return a module cached by an earlier run.
    """

    def write(**profiles: str) -> Path:
        root = tmp_path / f"suites-{uuid.uuid4().hex[:8]}"
        for profile, source in profiles.items():
            d = root / profile
            d.mkdir(parents=True)
            name = f"test_syn_{uuid.uuid4().hex[:10]}.py"
            (d / name).write_text(textwrap.dedent(source), encoding="utf-8")
        return root

    return write


@pytest.fixture
def write_target(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / f"target-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
