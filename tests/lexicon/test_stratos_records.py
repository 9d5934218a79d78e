"""Realistic zone.stratos records, valid and broken, against the bundled lexicons."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from lexicons import Catalog, LexiconValidationError

POST = "zone.stratos.feed.post"
ENROLLMENT = "zone.stratos.actor.enrollment"
SERVICE_DID = "did:web:stratos.example"
USER_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
CID = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"
BLOB_CID = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
SIGNATURE = base64.b64encode(bytes(range(64))).decode()  # a 64-byte r||s, in JSON form


def _domain(name: str) -> dict[str, str]:
    return {"value": f"{SERVICE_DID}/{name}"}


def _post() -> dict[str, Any]:
    parent = {"uri": f"at://{USER_DID}/{POST}/3l2sxk6c3j22a", "cid": CID}
    return {
        "$type": POST,
        "text": "Hello @alice.test, see https://example.com #stratos",
        "createdAt": "2025-01-15T10:30:00.000Z",
        "langs": ["en", "pt-BR"],
        "tags": ["private"],
        "boundary": {"values": [_domain("friends"), _domain("family")]},
        "reply": {"root": dict(parent), "parent": dict(parent)},
        "facets": [
            {
                "index": {"byteStart": 6, "byteEnd": 17},
                "features": [{"$type": "zone.stratos.richtext.facet#mention", "did": USER_DID}],
            },
            {
                "index": {"byteStart": 23, "byteEnd": 42},
                "features": [
                    {"$type": "zone.stratos.richtext.facet#link", "uri": "https://example.com"}
                ],
            },
        ],
        "embed": {
            "$type": "zone.stratos.embed.images",
            "images": [
                {
                    "alt": "a cat",
                    "image": {
                        "$type": "blob",
                        "ref": {"$link": BLOB_CID},
                        "mimeType": "image/jpeg",
                        "size": 52341,
                    },
                    "aspectRatio": {"width": 4, "height": 3},
                }
            ],
        },
        "labels": {
            "$type": "com.atproto.label.defs#selfLabels",
            "values": [{"val": "graphic-media"}],
        },
    }


def _stub_post() -> dict[str, Any]:
    return {
        "$type": POST,
        "text": "",
        "createdAt": "2025-01-15T10:30:00Z",
        "source": {
            "vary": "authenticated",
            "subject": {"uri": f"at://{USER_DID}/{POST}/3l2sxk6c3j22a", "cid": CID},
            "service": f"{SERVICE_DID}#stratos",
        },
    }


def _enrollment() -> dict[str, Any]:
    return {
        "$type": ENROLLMENT,
        "service": "https://stratos.example",
        "boundaries": [_domain("friends")],
        "signingKey": "did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N",
        "attestation": {
            "sig": {"$bytes": SIGNATURE},
            "signingKey": "did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo",
        },
        "createdAt": "2025-01-15T10:00:00Z",
    }


@pytest.mark.parametrize("make", [_post, _stub_post], ids=["full post", "PDS stub"])
def test_valid_posts(catalog: Catalog, make) -> None:
    catalog.validate_record(POST, make())


def test_post_text_limits_count_graphemes_and_bytes(catalog: Catalog) -> None:
    post = _post()
    post["text"] = "🏳️‍🌈" * 300  # 300 graphemes, 4200 bytes: the byte limit bites first
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(POST, post)
    assert caught.value.path == "$.text"
    assert "3000 bytes" in caught.value.message

    post["text"] = "a" * 300
    catalog.validate_record(POST, post)

    post["text"] = "a" * 301
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(POST, post)
    assert caught.value.path == "$.text"
    assert "at most 300 graphemes, got 301" in caught.value.message

    post["text"] = "é" * 300  # 300 graphemes in 600 bytes
    catalog.validate_record(POST, post)


def test_boundary_with_eleven_domains_is_rejected(catalog: Catalog) -> None:
    post = _post()
    post["boundary"] = {"values": [_domain(f"d{i}") for i in range(10)]}
    catalog.validate_record(POST, post)
    post["boundary"]["values"].append(_domain("d10"))
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(POST, post)
    assert caught.value.path == "$.boundary.values"
    assert "at most 10 items, got 11" in caught.value.message


def _break(record: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    target: Any = broken
    *parents, last = dotted.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "path", "message"),
    [
        ("createdAt", _DELETE, "$", "required field 'createdAt' is missing"),
        ("createdAt", "2025-01-15 10:30:00", "$.createdAt", "not a valid datetime"),
        ("boundary.values.1.value", "x" * 254, "$.boundary.values[1].value", "at most 253"),
        ("boundary.values.0", "did:web:stratos.example/friends", "$.boundary.values[0]",
         "expected an object"),
        ("langs.1", "Portuguese", "$.langs[1]", "not a valid language"),
        ("reply.parent.uri", "https://example.com/post", "$.reply.parent.uri",
         "not a valid at-uri"),
        ("facets.0.features.0.did", "alice.test", "$.facets[0].features[0].did",
         "not a valid did"),
        ("facets.0.index.byteStart", -1, "$.facets[0].index.byteStart", "at least 0"),
        ("embed.images.0.image.mimeType", "text/html", "$.embed.images[0].image.mimeType",
         "not accepted"),
        ("embed.$type", _DELETE, "$.embed", "must have a $type"),
        ("labels.values.0.val", 7, "$.labels.values[0].val", "expected a string"),
        ("tags", ["t"] * 9, "$.tags", "at most 8 items"),
        ("text", None, "$.text", "must not be null"),
        ("$type", "app.bsky.feed.post", "$.$type", "expected 'zone.stratos.feed.post'"),
    ],
)  # fmt: skip
def test_invalid_posts(catalog: Catalog, dotted: str, value: Any, path: str, message: str) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(POST, _break(_post(), dotted, value))
    assert caught.value.path == path
    assert message in caught.value.message


def test_stub_source_vary_is_closed(catalog: Catalog) -> None:
    stub = _break(_stub_post(), "source.vary", "sometimes")
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(POST, stub)
    assert caught.value.path == "$.source.vary"


def test_open_embed_union_accepts_unknown_types(catalog: Catalog) -> None:
    # Open unions let newer clients embed things this lexicon version does not know.
    post = _break(_post(), "embed", {"$type": "com.example.embed.poll", "options": ["a"]})
    catalog.validate_record(POST, post)


def test_valid_enrollment(catalog: Catalog) -> None:
    catalog.validate_record(ENROLLMENT, _enrollment())
    assert catalog.record_schema(ENROLLMENT) is not None


@pytest.mark.parametrize(
    ("dotted", "value", "path"),
    [
        ("service", "stratos.example", "$.service"),
        ("signingKey", "zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N", "$.signingKey"),
        ("attestation.sig", "bm90IGJ5dGVz", "$.attestation.sig"),
        ("attestation.signingKey", _DELETE, "$.attestation"),
        ("boundaries", [_domain(str(i)) for i in range(51)], "$.boundaries"),
        ("createdAt", "yesterday", "$.createdAt"),
    ],
)
def test_invalid_enrollments(catalog: Catalog, dotted: str, value: Any, path: str) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record(ENROLLMENT, _break(_enrollment(), dotted, value))
    assert caught.value.path == path
