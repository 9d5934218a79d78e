"""XRPC bodies: procedure input, query/procedure output, subscription messages."""

from __future__ import annotations

from typing import Any

import pytest

from lexicons import Catalog, LexiconSchemaError, LexiconValidationError

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
CID = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"
POST_URI = f"at://{DID}/zone.stratos.feed.post/3l2sxk6c3j22a"
REV = "3l2sxk6c3j22a"


def test_create_record_input(catalog: Catalog) -> None:
    body = {
        "repo": DID,
        "collection": "zone.stratos.feed.post",
        "record": {"text": "hi", "createdAt": "2025-01-15T10:30:00Z"},
    }
    catalog.validate_input("com.atproto.repo.createRecord", body)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("com.atproto.repo.createRecord", {**body, "rkey": "a/b"})
    assert caught.value.path == "$.rkey"
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("com.atproto.repo.createRecord", {**body, "record": "hi"})
    assert caught.value.path == "$.record"


def test_input_required_when_declared(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError, match="input body is required"):
        catalog.validate_input("com.atproto.server.createSession", None)


def test_input_floats_rejected_by_data_model(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input(
            "io.atcr.hold.initiateUpload", {"digest": "sha256:" + "a" * 64, "size": 1.5}
        )
    assert caught.value.path == "$.size"


def test_put_record_swap_record_is_nullable(catalog: Catalog) -> None:
    body = {
        "repo": DID,
        "collection": "zone.stratos.feed.post",
        "rkey": "self",
        "record": {"$type": "zone.stratos.feed.post"},
        "swapRecord": None,
    }
    catalog.validate_input("com.atproto.repo.putRecord", body)


def test_apply_writes_is_a_closed_union(catalog: Catalog) -> None:
    write = {
        "$type": "com.atproto.repo.applyWrites#create",
        "collection": "zone.stratos.feed.post",
        "value": {"text": "x", "createdAt": "2025-01-15T10:30:00Z"},
    }
    catalog.validate_input("com.atproto.repo.applyWrites", {"repo": DID, "writes": [write]})
    bogus = {**write, "$type": "com.atproto.repo.applyWrites#upsert"}
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("com.atproto.repo.applyWrites", {"repo": DID, "writes": [bogus]})
    assert caught.value.path == "$.writes[0].$type"


def test_hydrate_records_uri_limit(catalog: Catalog) -> None:
    catalog.validate_input("zone.stratos.repo.hydrateRecords", {"uris": [POST_URI] * 100})
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("zone.stratos.repo.hydrateRecords", {"uris": [POST_URI] * 101})
    assert caught.value.path == "$.uris"


def test_complete_upload_parts(catalog: Catalog) -> None:
    body: dict[str, Any] = {
        "uploadId": "u1",
        "digest": "sha256:" + "a" * 64,
        "parts": [{"partNumber": 1, "etag": '"abc"'}, {"partNumber": 2, "etag": '"def"'}],
    }
    catalog.validate_input("io.atcr.hold.completeUpload", body)
    body["parts"][1]["partNumber"] = 10001
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("io.atcr.hold.completeUpload", body)
    assert caught.value.path == "$.parts[1].partNumber"
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_input("io.atcr.hold.completeUpload", {**body, "parts": []})
    assert caught.value.path == "$.parts"


def test_non_json_input_is_left_to_the_caller(catalog: Catalog) -> None:
    catalog.validate_input("zone.stratos.repo.importRepo", b"\x0a\xa1CAR bytes")
    catalog.validate_input("com.atproto.repo.uploadBlob", b"\x89PNG")


def test_create_record_output(catalog: Catalog) -> None:
    out = {"uri": POST_URI, "cid": CID, "commit": {"cid": CID, "rev": REV}}
    catalog.validate_output("com.atproto.repo.createRecord", out)
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_output(
            "com.atproto.repo.createRecord", {**out, "commit": {"cid": CID, "rev": "1"}}
        )
    assert caught.value.path == "$.commit.rev"


def test_empty_repo_outputs(catalog: Catalog) -> None:
    describe = {
        "handle": "alice.test",
        "did": DID,
        "didDoc": {"id": DID},
        "collections": [],
        "handleIsCorrect": True,
    }
    catalog.validate_output("com.atproto.repo.describeRepo", describe)
    catalog.validate_output("com.atproto.repo.listRecords", {"records": []})
    with pytest.raises(LexiconValidationError, match="'collections' is missing"):
        catalog.validate_output(
            "com.atproto.repo.describeRepo",
            {k: v for k, v in describe.items() if k != "collections"},
        )


def test_enrollment_status_output(catalog: Catalog) -> None:
    nsid = "zone.stratos.enrollment.status"
    catalog.validate_output(nsid, {"did": DID, "enrolled": False})
    catalog.validate_output(
        nsid,
        {
            "did": DID,
            "enrolled": True,
            "enrolledAt": "2025-01-15T10:00:00Z",
            "boundaries": [{"value": "did:web:stratos.example/friends"}],
        },
    )
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_output(nsid, {"did": DID, "enrolled": "no"})
    assert caught.value.path == "$.enrolled"


def test_timeline_output(catalog: Catalog) -> None:
    item = {
        "post": {
            "uri": POST_URI,
            "cid": CID,
            "author": {"did": DID, "handle": "alice.test"},
            "record": {"$type": "zone.stratos.feed.post", "text": "hi"},
            "indexedAt": "2025-01-15T10:30:01Z",
        }
    }
    catalog.validate_output("zone.stratos.feed.getTimeline", {"feed": [item], "cursor": "c"})
    del item["post"]["indexedAt"]
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_output("zone.stratos.feed.getTimeline", {"feed": [item]})
    assert caught.value.path == "$.feed[0].post"


def test_session_output_must_carry_tokens(catalog: Catalog) -> None:
    session = {"accessJwt": "a", "refreshJwt": "r", "handle": "alice.test", "did": DID}
    catalog.validate_output("com.atproto.server.createSession", session)
    with pytest.raises(LexiconValidationError, match="'refreshJwt' is missing"):
        catalog.validate_output(
            "com.atproto.server.createSession",
            {k: v for k, v in session.items() if k != "refreshJwt"},
        )


def test_methods_without_declared_output_accept_anything(catalog: Catalog) -> None:
    catalog.validate_output("com.atproto.server.deleteSession", None)
    catalog.validate_output("com.atproto.sync.getRepo", b"car")


def test_wrong_method_kind_is_a_schema_error(catalog: Catalog) -> None:
    with pytest.raises(LexiconSchemaError, match="no procedure lexicon"):
        catalog.validate_input("com.atproto.repo.getRecord", {})
    with pytest.raises(LexiconSchemaError):
        catalog.validate_output("zone.stratos.feed.post", {})


def _commit_body() -> dict[str, Any]:
    return {
        "seq": 7,
        "did": DID,
        "rev": REV,
        "time": "2025-01-15T10:30:00Z",
        "ops": [
            {
                "action": "create",
                "collection": "zone.stratos.feed.post",
                "rkey": REV,
                "cid": {"$link": CID},
                "record": {"$type": "zone.stratos.feed.post", "text": "hi"},
            },
            {"action": "delete", "collection": "zone.stratos.feed.post", "rkey": REV, "cid": None},
        ],
    }


def test_subscription_messages(catalog: Catalog) -> None:
    nsid = "zone.stratos.sync.subscribeRecords"
    catalog.validate_message(nsid, _commit_body(), "#commit")
    catalog.validate_message(nsid, {"$type": f"{nsid}#commit", **_commit_body()})
    catalog.validate_message(nsid, {"name": "OutdatedCursor"}, "#info")
    catalog.validate_message(
        nsid,
        {"seq": 8, "did": DID, "time": "2025-01-15T10:30:00Z", "enrolled": False},
        "#enrollment",
    )
    broken = _commit_body()
    broken["ops"][0]["action"] = "upsert"
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_message(nsid, broken, "#commit")
    assert caught.value.path == "$.ops[0].action"


def test_subscription_message_needs_a_type(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError, match="must have a \\$type"):
        catalog.validate_message("zone.stratos.sync.subscribeRecords", _commit_body())
