"""The reference ATCR AppView as it runs: the OCI registry layer wired to the ATProto side
(owners' PDSes through the shared OAuth client, holds) and the OAuth client routes."""

from __future__ import annotations

import logging
import time

import httpx
from starlette.applications import Starlette

from ...common.background import ClosesHttp
from ...common.oauth_client import ClientIdentity, IdentityResolver, OAuthClient, load_or_create_key
from ...common.service import ServiceSettings
from ...common.sqlite import Database
from .atproto import AtprotoSettings, build_ports
from .config import AtcrConfig, load_or_create_auth_key
from .oauth_routes import CALLBACK_PATH, JWKS_PATH, METADATA_PATH, build_oauth_routes
from .registry import RegistrySettings, create_registry_app

log = logging.getLogger("reference_impl.atcr.appview")

CLIENT_NAME = "ATCR"


def log_system_time(now: float) -> None:
    """The first thing to compare when a PDS refuses our client assertion's ``iat``
    (ATCR-OAUTH-02): this host's clock, in one line."""
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    log.info("system time %s (epoch %.3f)", iso, now)


def build_production_app(settings: ServiceSettings) -> Starlette:
    config = AtcrConfig.from_settings(settings)
    log_system_time(time.time())
    signing_key = load_or_create_auth_key(config.auth_key_path)
    db = Database(config.database_path)
    # trust_env=False: the service talks to the configured PDS/directory/holds only, no proxy.
    http = httpx.AsyncClient(timeout=15.0, trust_env=False)
    identity = ClientIdentity.at(
        config.base_url,
        load_or_create_key(db, "oauth-client"),
        client_name=CLIENT_NAME,
        metadata_path=METADATA_PATH,
        callback_path=CALLBACK_PATH,
        jwks_path=JWKS_PATH,
    )
    resolver = IdentityResolver(http, config.plc_url, handle_resolver_url=config.pds_url)
    oauth = OAuthClient(http, db, identity, time.time, resolver)
    ports = build_ports(
        AtprotoSettings(
            base_url=config.base_url,
            pds_url=config.pds_url,
            plc_url=config.plc_url,
            default_hold_did=config.default_hold_did,
            faults=config.faults.active,
        ),
        http,
        oauth,
    )
    registry_settings = RegistrySettings(
        base_url=config.base_url,
        service_name=config.service_name,
        signing_key=signing_key,
        spool_dir=config.spool_dir,
        faults=config.faults.active,
    )
    return create_registry_app(
        ports,
        registry_settings,
        extra_routes=build_oauth_routes(
            oauth,
            ports.credentials,
            metadata_404="client-metadata-404" in config.faults,
        ),
        background=[ClosesHttp(http)],
    )
