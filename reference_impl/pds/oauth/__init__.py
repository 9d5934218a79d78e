"""The ATProto OAuth authorization server of the reference PDS.

Pure protocol modules (``authorization``, ``resource``, ``clients``, ``client_auth``,
``tokens``, ``pkce``, ``metadata``, ``store``) plus one thin Starlette adapter (``routes``);
``build_oauth_server`` wires them.
"""

from __future__ import annotations

from .config import KNOWN_FAULTS, OAuthConfig
from .errors import OAuthError, ResourceAuthError
from .ports import AccountDirectory, AccountRef
from .resource import HeaderSource, OAuthPrincipal
from .server import OAuthServer, build_oauth_server

__all__ = [
    "KNOWN_FAULTS",
    "AccountDirectory",
    "AccountRef",
    "HeaderSource",
    "OAuthConfig",
    "OAuthError",
    "OAuthPrincipal",
    "OAuthServer",
    "ResourceAuthError",
    "build_oauth_server",
]
