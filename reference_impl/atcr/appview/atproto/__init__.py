"""The ATProto side of the AppView: the ports of ``appview/ports.py`` implemented against the
owners' PDSes (identity, credentials, OAuth sessions, ``io.atcr.*`` records) and holds."""

from __future__ import annotations

from .cached import TagCachingManifestStore
from .credentials import PdsCredentialChecker
from .hold import HoldBlobBackend
from .hold_transport import HoldTransport
from .identity import PdsOwnerResolver
from .owner_agent import OwnerAgent
from .public_reads import PublicRepoReader
from .records import PdsManifestStore
from .sessions import OAuthSessionGate, login_url
from .wiring import ATPROTO_FAULTS, AtprotoSettings, build_ports

__all__ = [
    "ATPROTO_FAULTS",
    "AtprotoSettings",
    "HoldBlobBackend",
    "HoldTransport",
    "OAuthSessionGate",
    "OwnerAgent",
    "PdsCredentialChecker",
    "PdsManifestStore",
    "PdsOwnerResolver",
    "PublicRepoReader",
    "TagCachingManifestStore",
    "build_ports",
    "login_url",
]
