"""``python -m reference_impl.stratos``: run the reference Stratos service.

Callers authenticate with DPoP-bound access tokens from their own PDS; users enrol over OAuth
(docs/stratos.md). There is no test-only way around authentication here.
"""

from __future__ import annotations

import sys

from ..common.service import parse_settings, run_service
from .config import DEFAULT_PORT, ENV_PREFIX, KNOWN_FAULTS, ConfigError, StratosConfig
from .production import build_production_app


def main() -> None:
    settings = parse_settings(
        "stratos", ENV_PREFIX, default_port=DEFAULT_PORT, known_faults=KNOWN_FAULTS
    )
    try:
        StratosConfig.from_settings(settings)  # fail fast, before uvicorn starts
    except ConfigError as exc:
        print(f"python -m reference_impl.stratos: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    run_service(settings, build_production_app)


if __name__ == "__main__":
    main()
