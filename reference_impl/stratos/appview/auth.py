"""Who is asking for a timeline: the AppView authenticates exactly like Stratos.

Callers present their own PDS's DPoP-bound access token with a proof made for this AppView's
URL (docs/stratos.md, "Authentication of callers"); ``common/resource_auth.py`` does the work.
The AppView only adds how to answer a request that sent no credentials at all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ...common.errors import XrpcError, auth_required
from ...common.resource_auth import (
    RemoteTokenVerifier,
    ResourceAuthenticator,
    resource_dpop_verifier,
)
from ...common.xrpc import Authenticator

# The 401 for a request that sent no credentials (a fresh one per request: it may carry a nonce).
MissingCredentials = Callable[[], XrpcError]


@dataclass(frozen=True)
class CallerAuth:
    authenticate: Authenticator
    missing_credentials: MissingCredentials


def plain_missing_credentials() -> XrpcError:
    return auth_required()


def resource_auth(
    public_url: str, plc_url: str, http: httpx.AsyncClient, *, require_nonce: bool = True
) -> CallerAuth:
    """The production authenticator: DPoP proofs for our URL, tokens verified at their issuer."""
    authenticator = ResourceAuthenticator(
        public_url,
        # Nonces only need to outlive one process: a restart makes clients retry once with the
        # new nonce, which DPoP clients do anyway.
        resource_dpop_verifier(secrets.token_bytes(32), time.time, require_nonce=require_nonce),
        RemoteTokenVerifier(http, plc_url, time.time),
    )
    return CallerAuth(
        authenticator,
        # The bare challenge (RFC 6750 §3.1) with a nonce, so a client can make its first
        # proof right away instead of failing once more on use_dpop_nonce.
        lambda: authenticator.challenge(None, "Authentication required"),
    )


def viewer_did(principal: Any) -> str:
    """The viewer's DID from whatever principal the authenticator returned (it has ``.did``)."""
    did = getattr(principal, "did", None)
    if not isinstance(did, str) or not did.startswith("did:"):
        # An authenticator that returns a principal without a DID is a wiring bug, not the
        # caller's fault; refuse rather than guess.
        raise XrpcError(401, "AuthRequired", "Authenticated principal carries no DID")
    return did
