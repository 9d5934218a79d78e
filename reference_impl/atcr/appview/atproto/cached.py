"""The ``tag-cached-not-from-pds`` fault: a ManifestStore that remembers what was pushed and
serves tags and manifests from that memory, so a tag record deleted in the PDS stays visible.

Deliberately wrong (it breaks ATCR-REC-03); it exists so the harness can prove it notices.
The cache is per instance and lives as long as the process.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ports import ManifestStore, Owner, ParsedManifest, Referrer, StoredManifest


class TagCachingManifestStore:
    def __init__(self, inner: ManifestStore) -> None:
        self._inner = inner
        self._by_tag: dict[tuple[str, str, str], StoredManifest] = {}
        self._by_digest: dict[tuple[str, str, str], StoredManifest] = {}

    async def repository_exists(self, owner: Owner, path: str) -> bool:
        if any(k[0] == owner.did and k[1] == path for k in self._by_tag):
            return True
        return await self._inner.repository_exists(owner, path)

    async def get_by_tag(self, owner: Owner, path: str, tag: str) -> StoredManifest | None:
        cached = self._by_tag.get((owner.did, path, tag))
        return cached if cached is not None else await self._inner.get_by_tag(owner, path, tag)

    async def get_by_digest(self, owner: Owner, path: str, digest: str) -> StoredManifest | None:
        cached = self._by_digest.get((owner.did, path, digest))
        if cached is not None:
            return cached
        return await self._inner.get_by_digest(owner, path, digest)

    async def list_tags(self, owner: Owner, path: str) -> list[str]:
        remembered = {k[2] for k in self._by_tag if k[0] == owner.did and k[1] == path}
        return sorted(remembered | set(await self._inner.list_tags(owner, path)))

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
        uri = await self._inner.put(owner, path, digest, content, manifest, tags, hold_did)
        stored = StoredManifest(
            digest=digest,
            media_type=manifest.media_type,
            content=content,
            record_uri=uri,
            hold_did=hold_did,
            artifact_type=manifest.artifact_type,
            annotations=manifest.annotations,
            config_media_type=manifest.config.media_type if manifest.config else None,
        )
        self._by_digest[(owner.did, path, digest)] = stored
        for tag in tags:
            self._by_tag[(owner.did, path, tag)] = stored
        return uri

    async def delete_manifest(self, owner: Owner, path: str, digest: str) -> bool:
        # Deletes through the registry still forget: only out-of-band PDS changes are missed.
        self._by_digest.pop((owner.did, path, digest), None)
        for key in [k for k, v in self._by_tag.items() if k[:2] == (owner.did, path)]:
            if self._by_tag[key].digest == digest:
                del self._by_tag[key]
        return await self._inner.delete_manifest(owner, path, digest)

    async def delete_tag(self, owner: Owner, path: str, tag: str) -> bool:
        self._by_tag.pop((owner.did, path, tag), None)
        return await self._inner.delete_tag(owner, path, tag)

    async def referrers(self, owner: Owner, path: str, digest: str) -> list[Referrer]:
        return await self._inner.referrers(owner, path, digest)

    async def hold_for(self, owner: Owner, *, for_push: bool) -> str:
        return await self._inner.hold_for(owner, for_push=for_push)
