"""The ports of the registry layer, built from the ATProto side's parts (one place, so the
production app and the tests wire them the same way)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import httpx

from ....common.oauth_client import OAuthClient
from ..ports import ManifestStore, RegistryPorts
from .cached import TagCachingManifestStore
from .credentials import PdsCredentialChecker
from .hold import HoldBlobBackend
from .hold_directory import HoldDirectory
from .hold_transport import HoldTransport
from .identity import PdsOwnerResolver
from .owner_agent import OwnerAgent
from .public_reads import PublicRepoReader
from .records import PdsManifestStore
from .sessions import OAuthSessionGate

# The faults this side implements (docs/atcr.md "Faults"); the rest belong to the registry.
ATPROTO_FAULTS = frozenset({"tag-cached-not-from-pds", "hold-outage-hangs"})


@dataclass(frozen=True)
class AtprotoSettings:
    base_url: str  # for "log in again at <base>/auth/oauth/login?handle=…"
    pds_url: str  # handle resolution
    plc_url: str  # DID directory
    default_hold_did: str
    faults: Collection[str] = frozenset()
    clock: Callable[[], float] = time.time


def build_ports(
    settings: AtprotoSettings, http: httpx.AsyncClient, oauth: OAuthClient
) -> RegistryPorts:
    owners = PdsOwnerResolver(http, settings.pds_url, settings.plc_url)
    agent = OwnerAgent(oauth, settings.base_url)
    manifests: ManifestStore = PdsManifestStore(
        PublicRepoReader(http), agent, settings.default_hold_did, settings.clock
    )
    if "tag-cached-not-from-pds" in settings.faults:
        manifests = TagCachingManifestStore(manifests)
    transport = HoldTransport(http, hangs="hold-outage-hangs" in settings.faults)
    return RegistryPorts(
        owners=owners,
        credentials=PdsCredentialChecker(http, owners),
        sessions=OAuthSessionGate(oauth, settings.base_url),
        manifests=manifests,
        blobs=HoldBlobBackend(transport, HoldDirectory(transport), agent),
    )
