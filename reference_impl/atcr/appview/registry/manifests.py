"""Manifest bytes -> ``ParsedManifest`` (docs/atcr.md, end-7). Pure: no I/O.

Accepts OCI image manifests and indexes and Docker v2 manifests and manifest lists. The digest
is always of the exact bytes; nothing is re-serialised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...digests import Digest, InvalidDigest, digest_of, parse_digest
from ..ports import BlobRef, ParsedManifest
from .errors import RegistryError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
# Content-Types that say nothing about which manifest this is: the body's mediaType decides.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})
# Docker "foreign" layers live elsewhere (their ``urls``); registries do not hold them.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


def invalid(message: str, detail: Any = None) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message, detail)


def manifest_digest(content: bytes, expected: Digest | None = None) -> Digest:
    """The digest of ``content`` (in ``expected``'s algorithm when a digest was given as the
    reference); DIGEST_INVALID when it differs from ``expected``."""
    algorithm = expected.algorithm if expected is not None else "sha256"
    actual = digest_of(content, algorithm)
    if expected is not None and actual != expected:
        raise RegistryError(
            "DIGEST_INVALID",
            "manifest digest does not match the reference",
            {"expected": str(expected), "actual": str(actual)},
        )
    return actual


def parse_manifest(content: bytes, content_type: str | None) -> ParsedManifest:
    if len(content) > MAX_MANIFEST_BYTES:
        raise RegistryError(
            "SIZE_INVALID", f"manifests are at most {MAX_MANIFEST_BYTES} bytes", len(content)
        )
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise invalid("manifest is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("manifest is not a JSON object")
    media_type = _media_type(body, content_type)
    if body.get("schemaVersion") != 2 or isinstance(body.get("schemaVersion"), bool):
        raise invalid("schemaVersion must be 2")
    subject = _descriptor(body["subject"], "subject") if "subject" in body else None
    artifact_type = _optional_str(body, "artifactType")
    annotations = _annotations(body.get("annotations"), "annotations")
    if media_type in INDEX_TYPES:
        if "config" in body or "layers" in body:
            raise invalid("an index has manifests, not config/layers")
        return ParsedManifest(
            media_type,
            2,
            manifests=_descriptors(body.get("manifests"), "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "manifests" in body:
        raise invalid("an image manifest has config/layers, not manifests")
    if "config" not in body:
        raise invalid("image manifest without config")
    return ParsedManifest(
        media_type,
        2,
        config=_descriptor(body["config"], "config"),
        layers=_descriptors(body.get("layers"), "layers"),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _media_type(body: Mapping[str, Any], content_type: str | None) -> str:
    header = (content_type or "").split(";", 1)[0].strip().lower()
    in_body = body.get("mediaType")
    if in_body is not None and not isinstance(in_body, str):
        raise invalid("mediaType must be a string")
    if header in _GENERIC_TYPES:
        header = ""
    if header and in_body and header != in_body:
        raise invalid(
            "Content-Type and the manifest's mediaType differ",
            {"contentType": header, "mediaType": in_body},
        )
    media_type = header or in_body or ""
    if media_type not in MANIFEST_TYPES:
        raise invalid(
            f"unsupported manifest media type {media_type[:200]!r}", sorted(MANIFEST_TYPES)
        )
    return media_type


def _descriptors(value: Any, where: str) -> tuple[BlobRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(f"{where} must be an array")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _descriptor(value: Any, where: str) -> BlobRef:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise invalid(f"{where}.mediaType is required")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid(f"{where}.size must be a non-negative integer")
    try:
        raw = value.get("digest")
        digest = parse_digest(raw if isinstance(raw, str) else "")
    except InvalidDigest as exc:
        raise invalid(f"{where}.digest: {exc}") from None
    return BlobRef(
        digest=str(digest),
        size=size,
        media_type=media_type,
        annotations=_annotations(value.get("annotations"), f"{where}.annotations"),
        artifact_type=_optional_str(value, "artifactType", where),
    )


def _annotations(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(f"{where} must map strings to strings")
    return dict(value)


def _optional_str(body: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{where + '.' if where else ''}{key} must be a string")
    return value
