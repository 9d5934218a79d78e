"""The reference Stratos as it runs: the core wired to its OAuth client, PDS sync and the
DPoP/OAuth resource-server authenticator (docs/stratos.md)."""

from __future__ import annotations

import secrets
import time

import httpx
from starlette.types import ASGIApp

from ..common.background import ClosesHttp
from ..common.oauth_client import ClientIdentity, IdentityResolver, OAuthClient, load_or_create_key
from ..common.resource_auth import (
    RemoteTokenVerifier,
    ResourceAuthenticator,
    resource_dpop_verifier,
)
from ..common.service import ServiceSettings
from .app import create_app
from .config import StratosConfig
from .core import build_stratos
from .oauth_routes import build_oauth_routes
from .pds_sync import PdsSync
from .store import open_service_database


def build_production_app(settings: ServiceSettings) -> ASGIApp:
    config = StratosConfig.from_settings(settings)
    db = open_service_database(config.data_dir)
    # trust_env=False: the service talks to the configured PDS/directory only, never a proxy.
    http = httpx.AsyncClient(timeout=15.0, trust_env=False)
    identity = ClientIdentity.at(
        config.public_url, load_or_create_key(db, "oauth-client"), client_name="Stratos"
    )
    resolver = IdentityResolver(http, config.plc_url, handle_resolver_url=config.pds_url)
    oauth = OAuthClient(http, db, identity, time.time, resolver)
    sync = PdsSync(db, oauth, config.service_did)
    stratos = build_stratos(config, sync, db=db)
    authenticator = ResourceAuthenticator(
        config.public_url,
        resource_dpop_verifier(
            secrets.token_bytes(32),
            time.time,
            require_nonce=config.dpop_require_nonce,
            check_replay="dpop-no-replay-check" not in config.faults,
        ),
        RemoteTokenVerifier(
            http,
            config.plc_url,
            time.time,
            verify_signature="accept-forged-token" not in config.faults,
        ),
    )
    return create_app(
        stratos,
        authenticator=authenticator,
        extra_routes=lambda s: build_oauth_routes(oauth, s.enrollments, sync),
        background=[sync, ClosesHttp(http)],
    )
