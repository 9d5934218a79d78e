"""The ``io.atcr.*`` record values (docs/atcr.md "Records", lexicons/io/atcr/*.json): built from
what the registry parsed on push, and read back on pull. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..ports import BlobRef, ParsedManifest, Referrer, StoredManifest

MANIFEST = "io.atcr.manifest"
TAG = "io.atcr.tag"
PROFILE = "io.atcr.sailor.profile"
PROFILE_RKEY = "self"

_PLATFORM_FIELDS = ("architecture", "os", "os.version", "os.features", "variant")


def iso_now(now: float) -> str:
    """``createdAt``: UTC, millisecond precision, ``Z`` (the ATProto datetime profile)."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def tag_rkey(path: str, tag: str) -> str:
    """``<path with "/" as "~">:<tag>``: a valid record key, unique per repository and tag."""
    return f"{path.replace('/', '~')}:{tag}"


def tag_prefix(path: str) -> str:
    return tag_rkey(path, "")


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _annotations(value: Mapping[str, str] | None) -> dict[str, str] | None:
    if not value:
        return None
    return {str(k): str(v) for k, v in value.items()}


def blob_reference(ref: BlobRef) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": ref.media_type, "digest": ref.digest, "size": ref.size}
    annotations = _annotations(ref.annotations)
    if annotations:
        out["annotations"] = annotations
    return out


def _platforms(content: bytes) -> dict[str, dict[str, Any]]:
    """digest -> lexicon ``platform`` of each child of an index (ParsedManifest has none)."""
    try:
        doc = json.loads(content)
    except ValueError:
        return {}
    children = doc.get("manifests") if isinstance(doc, dict) else None
    out: dict[str, dict[str, Any]] = {}
    for child in children if isinstance(children, list) else []:
        if not isinstance(child, dict) or not isinstance(child.get("platform"), dict):
            continue
        platform = child["platform"]
        arch, os_name = platform.get("architecture"), platform.get("os")
        if not isinstance(arch, str) or not isinstance(os_name, str):
            continue
        value: dict[str, Any] = {"architecture": arch[:64], "os": os_name[:64]}
        if isinstance(platform.get("os.version"), str):
            value["osVersion"] = platform["os.version"][:128]
        features = platform.get("os.features")
        if isinstance(features, list) and all(isinstance(f, str) for f in features):
            value["osFeatures"] = [f[:64] for f in features]
        if isinstance(platform.get("variant"), str):
            value["variant"] = platform["variant"][:64]
        if isinstance(child.get("digest"), str):
            out[child["digest"]] = value
    return out


def manifest_record(
    *,
    path: str,
    digest: str,
    manifest: ParsedManifest,
    content: bytes,
    hold_did: str,
    manifest_blob: Mapping[str, Any],
    created_at: str,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": MANIFEST,
        "repository": path,
        "digest": digest,
        "mediaType": manifest.media_type,
        "schemaVersion": manifest.schema_version,
        "holdDid": hold_did,
        "manifestBlob": dict(manifest_blob),
        "createdAt": created_at,
    }
    if manifest.config is not None:
        record["config"] = blob_reference(manifest.config)
    if manifest.layers:
        record["layers"] = [blob_reference(layer) for layer in manifest.layers]
    if manifest.manifests:
        platforms = _platforms(content)
        children = []
        for child in manifest.manifests:
            value = blob_reference(child)
            if child.digest in platforms:
                value["platform"] = platforms[child.digest]
            children.append(value)
        record["manifests"] = children
    if manifest.subject is not None:
        record["subject"] = blob_reference(manifest.subject)
    if manifest.artifact_type:
        record["artifactType"] = manifest.artifact_type
    annotations = _annotations(manifest.annotations)
    if annotations:
        record["annotations"] = annotations
    return record


def tag_record(
    *, path: str, tag: str, manifest_uri: str, digest: str, created_at: str
) -> dict[str, Any]:
    return {
        "$type": TAG,
        "repository": path,
        "tag": tag,
        "manifest": manifest_uri,
        "manifestDigest": digest,
        "createdAt": created_at,
    }


def profile_record(default_hold: str, created_at: str) -> dict[str, Any]:
    return {"$type": PROFILE, "defaultHold": default_hold, "createdAt": created_at}


def blob_cid(value: Mapping[str, Any]) -> str | None:
    """The CID of a record's ``manifestBlob`` (``{"$type": "blob", "ref": {"$link": cid}}``)."""
    blob = value.get("manifestBlob")
    ref = blob.get("ref") if isinstance(blob, dict) else None
    link = ref.get("$link") if isinstance(ref, dict) else None
    return link if isinstance(link, str) else None


def blob_size(value: Mapping[str, Any]) -> int | None:
    blob = value.get("manifestBlob")
    size = blob.get("size") if isinstance(blob, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _str(value: Mapping[str, Any], key: str) -> str | None:
    item = value.get(key)
    return item if isinstance(item, str) else None


def _str_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)} or None


def config_media_type(value: Mapping[str, Any]) -> str | None:
    config = value.get("config")
    return _str(config, "mediaType") if isinstance(config, dict) else None


def stored_manifest(uri: str, value: Mapping[str, Any], content: bytes) -> StoredManifest:
    return StoredManifest(
        digest=str(value.get("digest")),
        media_type=_str(value, "mediaType") or "",
        content=content,
        record_uri=uri,
        hold_did=_str(value, "holdDid") or "",
        artifact_type=_str(value, "artifactType"),
        annotations=_str_map(value.get("annotations")),
        config_media_type=config_media_type(value),
    )


def subject_digest(value: Mapping[str, Any]) -> str | None:
    subject = value.get("subject")
    return _str(subject, "digest") if isinstance(subject, dict) else None


def referrer(value: Mapping[str, Any], size: int) -> Referrer:
    # OCI 1.1: a referrer's artifactType is its own, else its config's media type.
    return Referrer(
        digest=str(value.get("digest")),
        media_type=_str(value, "mediaType") or "",
        size=size,
        artifact_type=_str(value, "artifactType") or config_media_type(value),
        annotations=_str_map(value.get("annotations")),
    )
