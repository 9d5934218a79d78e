"""Test content for registries: blobs, image manifests, indexes and artifacts (pure, no I/O).

Layer bytes are random unless a seed is given, so two runs never collide on a shared registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.clients.oci import OCI_INDEX, OCI_MANIFEST

CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
EMPTY_JSON_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512_digest(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def random_bytes(size: int, seed: int | None = None) -> bytes:
    if seed is None:
        return os.urandom(size)
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str = LAYER_MEDIA_TYPE

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Manifest:
    """Exact manifest bytes (what is pushed and must come back byte for byte)."""

    content: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()  # what must be in the registry before the manifest is pushed
    artifact_type: str | None = None

    @property
    def digest(self) -> str:
        return sha256_digest(self.content)

    @property
    def size(self) -> int:
        return len(self.content)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        out = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return {**out, **extra}


def _encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def config_blob(label: str = "atconform") -> Blob:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"atconform": label}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Blob(_encode(doc), CONFIG_MEDIA_TYPE)


def image(
    layers: Sequence[bytes],
    *,
    label: str | None = None,
    subject: Manifest | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """An OCI image manifest over fresh config + the given layer bytes."""
    config = config_blob(label or os.urandom(8).hex())
    layer_blobs = tuple(Blob(data) for data in layers)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
    }
    if subject is not None:
        doc["subject"] = subject.descriptor()
    if annotations:
        doc["annotations"] = dict(annotations)
    return Manifest(_encode(doc), OCI_MANIFEST, (config, *layer_blobs))


def artifact(subject: Manifest, artifact_type: str, payload: bytes = b"{}") -> Manifest:
    """An artifact manifest (OCI 1.1 style: empty config, ``artifactType``) referring to
    ``subject``, for the referrers API."""
    empty = Blob(b"{}", EMPTY_JSON_MEDIA_TYPE)
    layer = Blob(payload, "application/vnd.atconform.test+json")
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.descriptor(),
        "layers": [layer.descriptor()],
        "subject": subject.descriptor(),
        "annotations": {"org.opencontainers.image.created": "2026-11-20T00:00:00Z"},
    }
    return Manifest(_encode(doc), OCI_MANIFEST, (empty, layer), artifact_type)


def index(children: Sequence[Manifest]) -> Manifest:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            c.descriptor(platform={"architecture": arch, "os": "linux"})
            for c, arch in zip(children, ("amd64", "arm64", "riscv64", "s390x"), strict=False)
        ],
    }
    return Manifest(_encode(doc), OCI_INDEX)
