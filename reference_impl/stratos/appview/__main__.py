"""``python -m reference_impl.stratos.appview``: run the reference Stratos AppView."""

from __future__ import annotations

from ...common.service import parse_settings, run_service
from .app import build_app
from .config import DEFAULT_PORT, ENV_PREFIX, KNOWN_FAULTS, NAME


def main() -> None:
    settings = parse_settings(
        NAME, ENV_PREFIX, default_port=DEFAULT_PORT, known_faults=KNOWN_FAULTS
    )
    run_service(settings, build_app)


if __name__ == "__main__":
    main()
