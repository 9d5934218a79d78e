"""Manifests and tags as ``io.atcr.*`` records in the owner's PDS — the source of truth.

Writes go through the OAuth client as the owner (``OwnerAgent``): the exact manifest bytes with
``uploadBlob``, then ``io.atcr.manifest`` (rkey TID) and ``io.atcr.tag`` (rkey
``<path ~>:<tag>``). Reads are public, unauthenticated and fresh every time (``PublicRepoReader``):
the AppView keeps no copy, so a tag record deleted in the PDS is gone from the registry at once
(ATCR-REC-03).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from ....common.oauth_client.locks import KeyedLocks
from ....primitives.tid import TidClock
from ..ports import Owner, ParsedManifest, Referrer, StoredManifest
from . import record_values as rv
from .owner_agent import OwnerAgent, PdsRefused
from .public_reads import PublicRepoReader

Clock = Callable[[], float]


def _matches(digest: str, content: bytes) -> bool:
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ("sha256", "sha512"):
        return False
    return hashlib.new(algorithm, content).hexdigest() == hexpart


class PdsManifestStore:
    def __init__(
        self,
        reader: PublicRepoReader,
        agent: OwnerAgent,
        default_hold_did: str,
        clock: Clock,
        tids: TidClock | None = None,
    ) -> None:
        self._reader = reader
        self._agent = agent
        self._default_hold = default_hold_did
        self._clock = clock
        self._tids = tids or TidClock()
        # Serialises read-modify-write sequences per owner (profile creation, manifest reuse):
        # a client pushing several layers at once must not create two profiles or two records.
        self._locks = KeyedLocks()

    # -- reads -------------------------------------------------------------------------------

    async def repository_exists(self, owner: Owner, path: str) -> bool:
        async for record in self._reader.list_records(owner, rv.TAG):
            if record["value"].get("repository") == path:
                return True
        async for record in self._reader.list_records(owner, rv.MANIFEST):
            if record["value"].get("repository") == path:
                return True
        return False

    async def get_by_tag(self, owner: Owner, path: str, tag: str) -> StoredManifest | None:
        record = await self._reader.get_record(owner, rv.TAG, rv.tag_rkey(path, tag))
        if record is None or record["value"].get("repository") != path:
            return None
        uri = record["value"].get("manifest")
        if not isinstance(uri, str) or not uri.startswith(f"at://{owner.did}/{rv.MANIFEST}/"):
            return None
        manifest = await self._reader.get_record(owner, rv.MANIFEST, rv.rkey_of(uri))
        if manifest is None:
            return None
        return await self._load(owner, path, manifest)

    async def get_by_digest(self, owner: Owner, path: str, digest: str) -> StoredManifest | None:
        record = await self._find_manifest(owner, path, digest)
        return None if record is None else await self._load(owner, path, record)

    async def list_tags(self, owner: Owner, path: str) -> list[str]:
        tags: set[str] = set()
        async for record in self._reader.list_records(owner, rv.TAG):
            value = record["value"]
            tag = value.get("tag")
            if value.get("repository") == path and isinstance(tag, str):
                tags.add(tag)
        return sorted(tags)

    async def referrers(self, owner: Owner, path: str, digest: str) -> list[Referrer]:
        out: list[Referrer] = []
        async for record in self._reader.list_records(owner, rv.MANIFEST):
            value = record["value"]
            if value.get("repository") != path or rv.subject_digest(value) != digest:
                continue
            size = rv.blob_size(value)
            if size is None:
                loaded = await self._load(owner, path, record)
                if loaded is None:
                    continue
                size = len(loaded.content)
            out.append(rv.referrer(value, size))
        return out

    async def hold_for(self, owner: Owner, *, for_push: bool) -> str:
        profile = await self._reader.get_record(owner, rv.PROFILE, rv.PROFILE_RKEY)
        if profile is not None:
            return self._hold_of(profile["value"])
        if not for_push:
            return self._default_hold
        async with self._locks.hold(owner.did):
            # Again under the lock: a concurrent upload of the same push may have created it.
            profile = await self._reader.get_record(owner, rv.PROFILE, rv.PROFILE_RKEY)
            if profile is not None:
                return self._hold_of(profile["value"])
            record = rv.profile_record(self._default_hold, rv.iso_now(self._clock()))
            try:
                await self._agent.procedure(
                    owner,
                    "com.atproto.repo.createRecord",
                    {
                        "repo": owner.did,
                        "collection": rv.PROFILE,
                        "rkey": rv.PROFILE_RKEY,
                        "record": record,
                    },
                )
            except PdsRefused:
                # Created meanwhile by someone else (another AppView, the user): use theirs.
                profile = await self._reader.get_record(owner, rv.PROFILE, rv.PROFILE_RKEY)
                if profile is None:
                    raise
                return self._hold_of(profile["value"])
        return self._default_hold

    def _hold_of(self, value: dict[str, Any]) -> str:
        hold = value.get("defaultHold")
        return hold if isinstance(hold, str) and hold.startswith("did:") else self._default_hold

    # -- writes ------------------------------------------------------------------------------

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
        async with self._locks.hold(f"{owner.did} {path}"):
            existing = await self._find_manifest(owner, path, digest)
            if existing is not None:
                uri = str(existing["uri"])
            else:
                uri = await self._create_manifest(owner, path, digest, content, manifest, hold_did)
        created_at = rv.iso_now(self._clock())
        for tag in tags:
            await self._agent.procedure(
                owner,
                "com.atproto.repo.putRecord",
                {
                    "repo": owner.did,
                    "collection": rv.TAG,
                    "rkey": rv.tag_rkey(path, tag),
                    "record": rv.tag_record(
                        path=path, tag=tag, manifest_uri=uri, digest=digest, created_at=created_at
                    ),
                },
            )
        return uri

    async def _create_manifest(
        self,
        owner: Owner,
        path: str,
        digest: str,
        content: bytes,
        manifest: ParsedManifest,
        hold_did: str,
    ) -> str:
        blob = await self._agent.upload_blob(owner, content, manifest.media_type)
        record = rv.manifest_record(
            path=path,
            digest=digest,
            manifest=manifest,
            content=content,
            hold_did=hold_did,
            manifest_blob=blob,
            created_at=rv.iso_now(self._clock()),
        )
        created = await self._agent.procedure(
            owner,
            "com.atproto.repo.createRecord",
            {
                "repo": owner.did,
                "collection": rv.MANIFEST,
                "rkey": self._tids.next(),
                "record": record,
            },
        )
        uri = created.get("uri")
        if not isinstance(uri, str):
            raise PdsRefused(f"the PDS of {owner.did} created a record without a URI", 200, None)
        return uri

    async def delete_manifest(self, owner: Owner, path: str, digest: str) -> bool:
        record = await self._find_manifest(owner, path, digest)
        if record is None:
            return False
        uri = str(record["uri"])
        # Tags first: a tag must never point at a record that is already gone.
        async for tag in self._reader.list_records(owner, rv.TAG):
            value = tag["value"]
            if value.get("repository") != path:
                continue
            if value.get("manifest") == uri or value.get("manifestDigest") == digest:
                await self._delete(owner, rv.TAG, rv.rkey_of(str(tag["uri"])))
        await self._delete(owner, rv.MANIFEST, rv.rkey_of(uri))
        return True

    async def delete_tag(self, owner: Owner, path: str, tag: str) -> bool:
        record = await self._reader.get_record(owner, rv.TAG, rv.tag_rkey(path, tag))
        if record is None or record["value"].get("repository") != path:
            return False
        await self._delete(owner, rv.TAG, rv.tag_rkey(path, tag))
        return True

    async def _delete(self, owner: Owner, collection: str, rkey: str) -> None:
        await self._agent.procedure(
            owner,
            "com.atproto.repo.deleteRecord",
            {"repo": owner.did, "collection": collection, "rkey": rkey},
        )

    # -- helpers -----------------------------------------------------------------------------

    async def _find_manifest(self, owner: Owner, path: str, digest: str) -> dict[str, Any] | None:
        async for record in self._reader.list_records(owner, rv.MANIFEST):
            value = record["value"]
            if value.get("repository") == path and value.get("digest") == digest:
                return record
        return None

    async def _load(self, owner: Owner, path: str, record: dict[str, Any]) -> StoredManifest | None:
        value = record["value"]
        if value.get("repository") != path:
            return None
        cid = rv.blob_cid(value)
        digest = value.get("digest")
        if cid is None or not isinstance(digest, str):
            return None
        content = await self._reader.get_blob(owner, cid)
        # The bytes must be the ones the digest names: a record pointing at other bytes is
        # treated as missing rather than served under a digest it does not have.
        if content is None or not _matches(digest, content):
            return None
        return rv.stored_manifest(str(record["uri"]), value, content)
