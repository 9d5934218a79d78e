"""The AppView's event-stream frame decoder and event parser (pure functions)."""

from __future__ import annotations

import pytest
from appview_fakes import (
    ALICE,
    ENGINEERING,
    POST,
    commit_body,
    create_op,
    delete_op,
    enrollment_body,
    error_frame,
    frame,
    post_record,
    record_cid,
)
from cbrrr import encode_dag_cbor

from reference_impl.stratos.appview.events import (
    CommitEvent,
    EnrollmentEvent,
    EventError,
    InfoEvent,
    RecordOp,
    parse_event,
)
from reference_impl.stratos.appview.frames import (
    ErrorFrame,
    FrameError,
    MessageFrame,
    decode_frame,
)

# {"op": 1, "t": "x"} with "op" first: canonical DAG-CBOR puts shorter keys first ("t").
NON_CANONICAL_HEADER = bytes([0xA2, 0x62, 0x6F, 0x70, 0x01, 0x61, 0x74, 0x61, 0x78])

# --- frames ------------------------------------------------------------------------------------


def test_message_frame_splits_header_and_body() -> None:
    record = post_record("hi")
    body = commit_body(ALICE, [create_op("3kaaaaaaaaaa2", record)], seq=7)
    decoded = decode_frame(frame("#commit", body))
    assert isinstance(decoded, MessageFrame)
    assert decoded.type == "#commit"
    assert decoded.body["seq"] == 7
    # Links stay links (IPLD form), not strings.
    assert decoded.body["ops"][0]["cid"] == record_cid(record)
    assert decoded.body["ops"][0]["record"] == record


def test_error_frame() -> None:
    decoded = decode_frame(error_frame("FutureCursor", "cursor is ahead"))
    assert decoded == ErrorFrame("FutureCursor", "cursor is ahead")


def test_error_frame_without_message() -> None:
    data = encode_dag_cbor({"op": -1}) + encode_dag_cbor({"error": "AuthRequired"})
    assert decode_frame(data) == ErrorFrame("AuthRequired", None)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}), "header only"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor({}) * 2, "three values"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + b"\xa1", "truncated body"),
        (encode_dag_cbor([1, "#commit"]) + encode_dag_cbor({}), "header not a map"),
        (encode_dag_cbor({"op": 1, "t": "#commit"}) + encode_dag_cbor([1]), "body not a map"),
        (encode_dag_cbor({"op": 2, "t": "#commit"}) + encode_dag_cbor({}), "unknown op"),
        (encode_dag_cbor({"op": 1}) + encode_dag_cbor({}), "message without t"),
        (encode_dag_cbor({"op": -1}) + encode_dag_cbor({"message": "x"}), "error without name"),
        # Non-canonical DAG-CBOR is refused, not guessed at.
        (NON_CANONICAL_HEADER + encode_dag_cbor({}), "non-canonical header"),
    ],
)
def test_malformed_frames_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(FrameError):
        decode_frame(data)


# --- events ------------------------------------------------------------------------------------


def _event(kind: str, body: dict) -> object:
    decoded = decode_frame(frame(kind, body))
    assert isinstance(decoded, MessageFrame)
    return parse_event(decoded)


def test_commit_event_with_documented_path_ops() -> None:
    record = post_record("hello", (ENGINEERING,))
    body = commit_body(ALICE, [create_op("3kaaaaaaaaaa2", record), delete_op("3kbbbbbbbbbb2")], 4)
    event = _event("#commit", body)
    assert isinstance(event, CommitEvent)
    assert (event.seq, event.did, event.invalid_ops) == (4, ALICE, ())
    create, delete = event.ops
    assert create == RecordOp("create", POST, "3kaaaaaaaaaa2", record_cid(record), record)
    assert delete == RecordOp("delete", POST, "3kbbbbbbbbbb2", None, None)


def test_commit_event_with_lexicon_collection_rkey_ops() -> None:
    record = post_record("hello")
    op = {
        "action": "update",
        "collection": POST,
        "rkey": "3kaaaaaaaaaa2",
        "cid": record_cid(record),
        "record": record,
    }
    event = _event("#commit", commit_body(ALICE, [op], 9))
    assert isinstance(event, CommitEvent)
    assert event.ops == (RecordOp("update", POST, "3kaaaaaaaaaa2", record_cid(record), record),)


def test_bad_ops_are_left_out_and_reported_not_fatal() -> None:
    good = create_op("3kaaaaaaaaaa2", post_record("ok"))
    bad = [
        {"action": "explode", "path": f"{POST}/x"},
        {"action": "create", "path": f"{POST}/3kcccccccccc2", "cid": None, "record": None},
        {"action": "create", "path": "no-slash", "record": {}},
        {"action": "delete"},
        "not a map",
    ]
    event = _event("#commit", commit_body(ALICE, [*bad, good], 3))
    assert isinstance(event, CommitEvent)
    assert [op.rkey for op in event.ops] == ["3kaaaaaaaaaa2"]
    assert len(event.invalid_ops) == len(bad)


def test_enrollment_event_reads_strings_and_domain_objects() -> None:
    as_strings = _event("#enrollment", enrollment_body(ALICE, True, (ENGINEERING,), 2))
    body = enrollment_body(ALICE, True, (), 3) | {"boundaries": [{"value": ENGINEERING}]}
    as_objects = _event("#enrollment", body)
    assert isinstance(as_strings, EnrollmentEvent) and isinstance(as_objects, EnrollmentEvent)
    assert as_strings.boundaries == as_objects.boundaries == (ENGINEERING,)
    assert as_strings.enrolled is True


def test_unenrollment_carries_no_domains() -> None:
    event = _event("#enrollment", enrollment_body(ALICE, False, (ENGINEERING,), 5))
    assert isinstance(event, EnrollmentEvent)
    assert (event.enrolled, event.boundaries) == (False, ())


def test_info_and_unknown_types() -> None:
    assert _event("#info", {"name": "OutdatedCursor", "message": "m"}) == InfoEvent(
        "OutdatedCursor", "m"
    )
    # Streams may grow new message types; an older consumer skips them.
    assert _event("#identity", {"seq": 1, "did": ALICE}) is None


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("#commit", {"did": ALICE, "ops": []}),  # no seq
        ("#commit", {"seq": -1, "did": ALICE, "ops": []}),
        ("#commit", {"seq": True, "did": ALICE, "ops": []}),
        ("#commit", {"seq": 1, "did": "alice", "ops": []}),
        ("#commit", {"seq": 1, "did": ALICE}),  # no ops
        ("#enrollment", {"seq": 1, "did": ALICE}),  # no enrolled
        ("#enrollment", {"seq": 1, "did": ALICE, "enrolled": True, "boundaries": [3]}),
        ("#info", {"message": "no name"}),
    ],
)
def test_unusable_event_bodies_are_refused(kind: str, body: dict) -> None:
    with pytest.raises(EventError):
        _event(kind, body)
