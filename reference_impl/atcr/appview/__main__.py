"""``python -m reference_impl.atcr.appview``: run the reference ATCR AppView (docs/atcr.md).

Settings come from the common flags and the ``ATCR_*`` variables; every one is checked before
uvicorn starts, and a bad value is one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ...common.service import parse_settings, run_service
from .config import (
    DEFAULT_PORT,
    ENV_PREFIX,
    KNOWN_FAULTS,
    AtcrConfig,
    ConfigError,
    http_addr_argv,
    load_or_create_auth_key,
)
from .production import build_production_app

PROG = "python -m reference_impl.atcr.appview"
DEFAULT_DATA_DIR = "./data/atcr"


def _with_data_dir(argv: list[str], env: dict[str, str]) -> list[str]:
    """The documented default data dir (``./data/atcr``) unless a flag or env chose one."""
    given = any(a == "--data-dir" or a.startswith("--data-dir=") for a in argv)
    return argv if given or env.get("ATCR_DATA_DIR") else [*argv, "--data-dir", DEFAULT_DATA_DIR]


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    env = dict(os.environ)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _with_data_dir(http_addr_argv(args, env), env)
    except ConfigError as exc:
        _fail(str(exc))
    settings = parse_settings(
        "atcr.appview",
        ENV_PREFIX,
        default_port=DEFAULT_PORT,
        known_faults=KNOWN_FAULTS,
        argv=args,
        environ=env,
    )
    try:
        config = AtcrConfig.from_settings(settings)  # fail fast, before uvicorn starts
        load_or_create_auth_key(config.auth_key_path)
    except ConfigError as exc:
        _fail(str(exc))
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; presigned storage URLs carry signatures there.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    run_service(settings, build_production_app)


if __name__ == "__main__":
    main()
