"""``python -m reference_impl.atcr.hold``: run the reference ATCR Hold (blob store).

``HOLD_PUBLIC_URL`` is the documented name of the public URL; the common ``--public-url`` flag
wins over it.
"""

from __future__ import annotations

import os
import sys

from ...common.service import parse_settings, run_service
from .app import build_app
from .config import DEFAULT_PORT, ENV_PREFIX, KNOWN_FAULTS, ConfigError, HoldConfig


def main() -> None:
    env = dict(os.environ)
    # docs/atcr.md: the data directory defaults to ./data/hold (not ./data/atcr.hold).
    env.setdefault("HOLD_DATA_DIR", "./data/hold")
    settings = parse_settings(
        "atcr.hold", ENV_PREFIX, default_port=DEFAULT_PORT, known_faults=KNOWN_FAULTS, environ=env
    )
    try:
        HoldConfig.from_settings(settings)  # fail fast, before uvicorn starts
    except ConfigError as exc:
        print(f"python -m reference_impl.atcr.hold: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    run_service(settings, build_app)


if __name__ == "__main__":
    main()
