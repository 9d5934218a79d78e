"""A real HTTP server on a free loopback port, running an ASGI app in a background thread.

The harness uses it to host documents a target must fetch (OAuth client metadata, JWKS); the
project's tests use it to stand up deliberately non-conforming apps the checks must catch.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    *,
    lifespan: bool = False,
) -> Iterator[str]:
    """Serve ``app`` until the ``with`` block ends; yields its base URL (``http://host:port``).
    ``lifespan=True`` runs the app's startup/shutdown (background workers, closing clients)."""
    if not host.startswith("127.") and host != "::1":
        raise ValueError("local servers bind loopback addresses only")
    port = port or free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on" if lifespan else "off",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"localserver-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"local server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
