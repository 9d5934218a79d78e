"""``python -m reference_impl.pds``: run the reference PDS."""

from __future__ import annotations

from ..common.service import parse_settings, run_service
from .app import build_app
from .config import KNOWN_FAULTS


def main() -> None:
    settings = parse_settings("pds", "PDS", default_port=2583, known_faults=KNOWN_FAULTS)
    run_service(settings, build_app)


if __name__ == "__main__":
    main()
