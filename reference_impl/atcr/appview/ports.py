"""What the OCI registry layer needs from the ATProto side, as small protocols.

The registry layer (``registry/``: names, uploads, manifests, token auth, the per-resource
handlers) is pure OCI and talks to the outside only through these ports. The ATProto side
(``atproto/``: records in the owner's PDS through the OAuth client, the hold client with
service-auth JWTs, credential checks against the user's PDS) implements them. docs/atcr.md holds
the wire contract both sides follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The account a repository name's first segment resolves to."""

    did: str
    handle: str | None
    pds_url: str


@dataclass(frozen=True)
class BlobRef:
    """An OCI descriptor of a blob (config, layer, subject)."""

    digest: str
    size: int
    media_type: str
    annotations: Mapping[str, str] | None = None
    artifact_type: str | None = None


@dataclass(frozen=True)
class ParsedManifest:
    """What the registry layer read out of the manifest bytes (already validated)."""

    media_type: str
    schema_version: int
    config: BlobRef | None = None
    layers: tuple[BlobRef, ...] = ()
    manifests: tuple[BlobRef, ...] = ()  # index children (descriptors of manifests)
    subject: BlobRef | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as read back from the owner's PDS: the exact pushed bytes and its record."""

    digest: str
    media_type: str
    content: bytes
    record_uri: str
    hold_did: str
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None
    config_media_type: str | None = None


@dataclass(frozen=True)
class Referrer:
    """One entry of a referrers index (end-12)."""

    digest: str
    media_type: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Caller:
    """Who a registry token says is calling: ``did`` is None for anonymous tokens."""

    did: str | None
    access: Mapping[str, frozenset[str]] = field(default_factory=dict)  # repo name -> actions

    def may(self, repository: str, action: str) -> bool:
        return action in self.access.get(repository, frozenset())


# --- errors the ports raise (registry/errors.py maps them to OCI error bodies) ------------------


class PortError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NameUnknown(PortError):
    """The owner segment does not resolve to an account (404 NAME_UNKNOWN)."""


class BadCredentials(PortError):
    """The identifier/password pair was refused by the user's PDS (401 UNAUTHORIZED)."""


class NoOAuthSession(PortError):
    """No usable OAuth session for the DID (401 UNAUTHORIZED, "log in again at <url>")."""

    def __init__(self, did: str, login_url: str) -> None:
        super().__init__(f"no ATProto OAuth session for {did}: log in again at {login_url}")
        self.did = did
        self.login_url = login_url


class HoldDenied(PortError):
    """The hold refused the user (not crew, allowAllCrew false) (403 DENIED)."""


class Unavailable(PortError):
    """The hold, its storage or the PDS could not be reached in time (503 UNAVAILABLE)."""


class BlobDigestMismatch(PortError):
    """The hold found the assembled bytes do not have the digest (400 DIGEST_INVALID)."""


# --- ports --------------------------------------------------------------------------------------


class OwnerResolver(Protocol):
    async def resolve(self, owner: str) -> Owner:
        """Handle or DID -> Owner; raises NameUnknown (or Unavailable)."""
        ...


class CredentialChecker(Protocol):
    async def check(self, identifier: str, password: str) -> str:
        """The caller's DID when the user's PDS accepts the pair; raises BadCredentials."""
        ...


class SessionGate(Protocol):
    async def require_session(self, owner: Owner) -> None:
        """Raises NoOAuthSession unless the AppView can act for ``owner`` in their PDS."""
        ...


class ManifestStore(Protocol):
    """Manifests and tags as ``io.atcr.*`` records in the owner's PDS (the source of truth)."""

    async def repository_exists(self, owner: Owner, path: str) -> bool: ...

    async def get_by_tag(self, owner: Owner, path: str, tag: str) -> StoredManifest | None: ...

    async def get_by_digest(
        self, owner: Owner, path: str, digest: str
    ) -> StoredManifest | None: ...

    async def list_tags(self, owner: Owner, path: str) -> list[str]:
        """Every tag of the repository, in lexical order."""
        ...

    async def put(
        self,
        owner: Owner,
        path: str,
        digest: str,
        content: bytes,
        manifest: ParsedManifest,
        tags: Sequence[str],
        hold_did: str,
    ) -> str:
        """Store the manifest (reusing an existing record with this digest) and point ``tags``
        at it; returns the manifest record's at-uri."""
        ...

    async def delete_manifest(self, owner: Owner, path: str, digest: str) -> bool: ...

    async def delete_tag(self, owner: Owner, path: str, tag: str) -> bool: ...

    async def referrers(self, owner: Owner, path: str, digest: str) -> list[Referrer]: ...

    async def hold_for(self, owner: Owner, *, for_push: bool) -> str:
        """The hold DID new blobs of ``owner`` go to: the sailor profile's ``defaultHold``, else
        the AppView default (on push, the profile is created when missing)."""
        ...


class BlobBackend(Protocol):
    """Blob bytes in a hold."""

    async def stat(self, hold_did: str, digest: str) -> int | None:
        """Size of the blob, or None when the hold does not have it."""
        ...

    async def download_url(self, hold_did: str, digest: str) -> str:
        """Absolute URL a client is redirected to (307) to GET the bytes."""
        ...

    async def upload(
        self, hold_did: str, owner: Owner, digest: str, spool: Path, size: int
    ) -> None:
        """Stream the spooled file to the hold (initiate → parts → complete) as ``owner``;
        raises HoldDenied, BlobDigestMismatch, NoOAuthSession or Unavailable."""
        ...


@dataclass(frozen=True)
class RegistryPorts:
    owners: OwnerResolver
    credentials: CredentialChecker
    sessions: SessionGate
    manifests: ManifestStore
    blobs: BlobBackend


JsonObject = dict[str, Any]
