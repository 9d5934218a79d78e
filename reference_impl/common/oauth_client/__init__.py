"""The reference services as confidential ATProto OAuth clients of users' PDSes."""

from __future__ import annotations

from .client import OAuthClient
from .errors import (
    LoginFailed,
    NoSession,
    OAuthClientError,
    ResolutionError,
    UnknownHandle,
    UpstreamError,
)
from .identity import ClientIdentity
from .resolve import AuthServerMetadata, DidInfo, IdentityResolver
from .store import Session, load_or_create_key

__all__ = [
    "AuthServerMetadata",
    "ClientIdentity",
    "DidInfo",
    "IdentityResolver",
    "LoginFailed",
    "NoSession",
    "OAuthClient",
    "OAuthClientError",
    "ResolutionError",
    "Session",
    "UnknownHandle",
    "UpstreamError",
    "load_or_create_key",
]
