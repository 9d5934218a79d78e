"""TEST-ONLY launcher: the reference Stratos process with the ``Test <did>`` authenticator.

Used by the crash test, which must ``kill -9`` a real Stratos process. It runs exactly what
``python -m reference_impl.stratos`` runs (same settings parsing, ``run_service``, uvicorn,
SQLite files) except that the auth layer is the test double from stratos_support.py. Keeping
this launcher under tests/ means the shipped entry point has no way to bypass authentication.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp
from stratos_support import TestAuthenticator

from reference_impl.common.service import ServiceSettings, parse_settings, run_service
from reference_impl.stratos.app import build_app
from reference_impl.stratos.config import DEFAULT_PORT, ENV_PREFIX, KNOWN_FAULTS


def _build(settings: ServiceSettings) -> ASGIApp:
    logging.getLogger("reference_impl.stratos").warning(
        "TEST-ONLY STRATOS: 'Authorization: Test <did>' is accepted as that DID"
    )
    return build_app(settings, authenticator=TestAuthenticator())


if __name__ == "__main__":
    run_service(
        parse_settings("stratos", ENV_PREFIX, DEFAULT_PORT, KNOWN_FAULTS),
        _build,
    )
