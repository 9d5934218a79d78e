"""Running one reference service as a process: flags and env, logging, uvicorn.

Every service takes ``--host/--port/--data-dir/--public-url/--fault`` flags, each also settable
through ``<PREFIX>_HOST``, ``<PREFIX>_PORT``, ``<PREFIX>_DATA_DIR``, ``<PREFIX>_PUBLIC_URL`` and
``<PREFIX>_FAULTS`` (comma separated). Flags win over env.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import Faults, UnknownFault


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    host: str
    port: int
    data_dir: Path
    public_url: str
    faults: Faults
    env: Mapping[str, str]


def parse_settings(
    name: str,
    prefix: str,
    default_port: int,
    known_faults: Iterable[str],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServiceSettings:
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog=f"python -m reference_impl.{name}", description=f"reference {name}"
    )
    parser.add_argument("--host", default=env.get(f"{prefix}_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=_int_env(env, f"{prefix}_PORT", default_port, parser)
    )
    parser.add_argument("--data-dir", default=env.get(f"{prefix}_DATA_DIR", f"./data/{name}"))
    parser.add_argument("--public-url", default=env.get(f"{prefix}_PUBLIC_URL"))
    parser.add_argument(
        "--fault",
        action="append",
        default=None,
        metavar="NAME",
        help="start with a deliberate fault (repeatable); for testing the harness",
    )
    parser.add_argument(
        "--list-faults", action="store_true", help="print the faults this service knows and exit"
    )
    args = parser.parse_args(argv)
    if args.list_faults:
        print("\n".join(sorted(known_faults)))
        raise SystemExit(0)
    fault_names = (
        args.fault if args.fault is not None else env.get(f"{prefix}_FAULTS", "").split(",")
    )
    try:
        faults = Faults.parse(fault_names, known_faults)
    except UnknownFault as exc:
        parser.error(str(exc))
    if not (1 <= args.port <= 65535):
        parser.error(f"port {args.port} is out of range")
    public_url = (args.public_url or f"http://{_url_host(args.host)}:{args.port}").rstrip("/")
    return ServiceSettings(
        name=name,
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir).resolve(),
        public_url=public_url,
        faults=faults,
        env=env,
    )


def _int_env(
    env: Mapping[str, str], key: str, default: int, parser: argparse.ArgumentParser
) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        parser.error(f"{key} must be an integer, got {raw!r}")
        raise  # unreachable: parser.error exits


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class AccessLog:
    """One line per request: method, path (never the query string: it may hold secrets), status."""

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.logger.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status[0] if status else "-",
                elapsed_ms,
            )


def configure_logging(name: str) -> logging.Logger:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return logging.getLogger(f"reference_impl.{name}")


def run_service(
    settings: ServiceSettings,
    build_app: Callable[[ServiceSettings], ASGIApp],
) -> None:
    logger = configure_logging(settings.name)
    logger.info(
        "starting %s on %s:%s (public URL %s, data %s, system time %s%s)",
        settings.name,
        settings.host,
        settings.port,
        settings.public_url,
        settings.data_dir,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        f", FAULTS {sorted(settings.faults.active)}" if settings.faults else "",
    )
    app = AccessLog(
        build_app(settings), logging.getLogger(f"reference_impl.{settings.name}.access")
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
