"""Realistic io.atcr records (what a docker push leaves in the user's PDS and the hold's repo)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lexicons import Catalog, LexiconValidationError

MANIFEST = "io.atcr.manifest"
USER_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
HOLD_DID = "did:web:hold.example"
BLOB_CID = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
SHA = "sha256:" + "a" * 64


def _descriptor(media_type: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": SHA, "size": size}


def _manifest() -> dict[str, Any]:
    layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    return {
        "$type": MANIFEST,
        "repository": "myapp",
        "digest": "sha256:" + "b" * 64,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "schemaVersion": 2,
        "config": _descriptor("application/vnd.oci.image.config.v1+json", 1469),
        "layers": [_descriptor(layer, 3370706), _descriptor(layer, 1024)],
        "annotations": {"org.opencontainers.image.created": "2025-01-15T10:30:00Z"},
        "holdDid": HOLD_DID,
        "manifestBlob": {
            "$type": "blob",
            "ref": {"$link": BLOB_CID},
            "mimeType": "application/vnd.oci.image.manifest.v1+json",
            "size": 1024,
        },
        "createdAt": "2025-01-15T10:30:00.123Z",
    }


def _index() -> dict[str, Any]:
    child = _descriptor("application/vnd.oci.image.manifest.v1+json", 1024)
    child["platform"] = {"architecture": "arm64", "os": "linux", "variant": "v8"}
    return {
        "$type": MANIFEST,
        "repository": "myapp",
        "digest": "sha256:" + "c" * 64,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "schemaVersion": 2,
        "manifests": [child],
        "holdDid": HOLD_DID,
        "createdAt": "2025-01-15T10:30:00Z",
    }


@pytest.mark.parametrize("make", [_manifest, _index], ids=["image manifest", "image index"])
def test_valid_manifests(catalog: Catalog, make) -> None:
    catalog.validate_record(MANIFEST, make())


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda m: m.update(repository="r" * 256), "$.repository"),
        (lambda m: m.pop("holdDid"), "$"),
        (lambda m: m.update(holdDid="https://hold.example"), "$.holdDid"),
        (lambda m: m["layers"][1].update(size=-1), "$.layers[1].size"),
        (lambda m: m["layers"][0].pop("digest"), "$.layers[0]"),
        (lambda m: m.update(schemaVersion="2"), "$.schemaVersion"),
        (lambda m: m.update(annotations=["not", "a", "map"]), "$.annotations"),
        (lambda m: m["manifestBlob"].pop("ref"), "$.manifestBlob"),
        (lambda m: m.update(config=SHA), "$.config"),
    ],
    ids=[
        "repository too long", "no holdDid", "holdDid not a DID", "negative layer size",
        "layer without digest", "schemaVersion as string", "annotations not an object",
        "manifestBlob without ref", "config as a bare digest",
    ],
)  # fmt: skip
def test_invalid_manifests(catalog: Catalog, change, path: str) -> None:
    manifest = copy.deepcopy(_manifest())
    change(manifest)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(MANIFEST, manifest)
    assert caught.value.path == path


def test_tag_record(catalog: Catalog) -> None:
    tag = {
        "$type": "io.atcr.tag",
        "repository": "myapp",
        "tag": "latest",
        "manifest": f"at://{USER_DID}/io.atcr.manifest/3l2sxk6c3j22a",
        "createdAt": "2025-01-15T10:30:01Z",
    }
    catalog.validate_record("io.atcr.tag", tag)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("io.atcr.tag", {**tag, "tag": "t" * 129})
    assert caught.value.path == "$.tag"
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("io.atcr.tag", {**tag, "manifest": "sha256:" + "a" * 64})
    assert caught.value.path == "$.manifest"


def test_sailor_profile(catalog: Catalog) -> None:
    profile = {
        "$type": "io.atcr.sailor.profile",
        "defaultHold": HOLD_DID,
        "createdAt": "2025-01-15T10:00:00Z",
        "updatedAt": "2025-01-16T10:00:00Z",
    }
    catalog.validate_record("io.atcr.sailor.profile", profile)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("io.atcr.sailor.profile", {**profile, "defaultHold": "hold"})
    assert caught.value.path == "$.defaultHold"


def test_hold_captain_and_crew(catalog: Catalog) -> None:
    captain = {
        "$type": "io.atcr.hold.captain",
        "owner": USER_DID,
        "public": True,
        "allowAllCrew": False,
    }
    catalog.validate_record("io.atcr.hold.captain", captain)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("io.atcr.hold.captain", {**captain, "public": "yes"})
    assert caught.value.path == "$.public"

    crew = {
        "$type": "io.atcr.hold.crew",
        "member": USER_DID,
        "role": "writer",
        "permissions": ["blob:read", "blob:write"],
    }
    catalog.validate_record("io.atcr.hold.crew", crew)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("io.atcr.hold.crew", {**crew, "permissions": "blob:read"})
    assert caught.value.path == "$.permissions"
