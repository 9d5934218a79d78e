"""The AppView's SQLite index: effects of events, the cursor, atomicity, ordering."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from appview_fakes import ALICE, BOB, CAROL, DESIGN, ENGINEERING, post_record, record_cid

from reference_impl.stratos.appview.events import CommitEvent, EnrollmentEvent, RecordOp
from reference_impl.stratos.appview.index import AppViewIndex
from reference_impl.stratos.appview.posts import POST_COLLECTION, indexed_post, sort_key

R1, R2, R3 = "3kaaaaaaaaaa2", "3kbbbbbbbbbb2", "3kcccccccccc2"


def uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def create(rkey: str, record: dict, action: str = "create") -> RecordOp:
    return RecordOp(action, POST_COLLECTION, rkey, record_cid(record), record)  # type: ignore[arg-type]


def delete(rkey: str) -> RecordOp:
    return RecordOp("delete", POST_COLLECTION, rkey, None, None)


def commit(seq: int, did: str, *ops: RecordOp) -> CommitEvent:
    return CommitEvent(seq, did, "", "", ops)


def enrol(seq: int, did: str, *domains: str, enrolled: bool = True) -> EnrollmentEvent:
    return EnrollmentEvent(seq, did, enrolled, domains if enrolled else (), "")


def timeline(index: AppViewIndex, viewer: str) -> list[str]:
    return [p.uri for p in index.timeline(viewer, 100, None).posts]


@pytest.fixture
def index(tmp_path: Path) -> AppViewIndex:
    idx = AppViewIndex.open(tmp_path, clock=lambda: 1_700_000_000.0)
    idx.bind_source("ws://stratos.test")
    return idx


def test_create_update_delete(index: AppViewIndex) -> None:
    index.apply(enrol(1, ALICE, ENGINEERING))
    index.apply(enrol(2, BOB, ENGINEERING))
    index.apply(enrol(3, CAROL, DESIGN))
    first = post_record("v1", (ENGINEERING,), "2024-05-01T10:00:00Z")
    index.apply(commit(4, ALICE, create(R1, first)))
    assert timeline(index, BOB) == [uri(ALICE, R1)]
    assert timeline(index, CAROL) == []

    moved = post_record("v2", (DESIGN,), "2024-05-01T10:00:00Z")
    index.apply(commit(5, ALICE, create(R1, moved, "update")))
    stored = index.post(uri(ALICE, R1))
    assert stored is not None and stored.record["text"] == "v2"
    assert stored.cid == record_cid(moved).encode()
    assert timeline(index, BOB) == []
    assert timeline(index, CAROL) == [uri(ALICE, R1)]

    index.apply(commit(6, ALICE, delete(R1)))
    assert index.post(uri(ALICE, R1)) is None
    assert timeline(index, CAROL) == []
    assert index.cursor() == 6


def test_other_collections_are_not_posts(index: AppViewIndex) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    other = RecordOp("create", "zone.stratos.feed.like", R1, None, {"text": "x"})
    index.apply(commit(2, ALICE, other))
    assert timeline(index, BOB) == []
    assert index.cursor() == 2  # the event still counts as consumed


def test_unenrolment_removes_the_authors_posts_and_their_view(index: AppViewIndex) -> None:
    index.apply(enrol(1, ALICE, ENGINEERING))
    index.apply(enrol(2, BOB, ENGINEERING))
    index.apply(commit(3, ALICE, create(R1, post_record("a"))))
    index.apply(commit(4, BOB, create(R2, post_record("b"))))
    assert sorted(timeline(index, ALICE)) == sorted([uri(ALICE, R1), uri(BOB, R2)])
    index.apply(enrol(5, ALICE, enrolled=False))
    assert timeline(index, BOB) == [uri(BOB, R2)]
    assert index.post(uri(ALICE, R1)) is None
    # Alice, no longer enrolled, sees nothing of others.
    assert timeline(index, ALICE) == []
    assert index.viewer(ALICE).enrolled is False


def test_boundary_changes_of_the_viewer_apply_to_old_posts(index: AppViewIndex) -> None:
    index.apply(enrol(1, ALICE, ENGINEERING))
    index.apply(enrol(2, CAROL, DESIGN))
    index.apply(commit(3, ALICE, create(R1, post_record("a", (ENGINEERING,)))))
    assert timeline(index, CAROL) == []
    index.apply(enrol(4, CAROL, DESIGN, ENGINEERING))  # re-enrolled with more domains
    assert timeline(index, CAROL) == [uri(ALICE, R1)]


def test_replayed_events_are_ignored_so_nothing_is_duplicated_or_resurrected(
    index: AppViewIndex,
) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    created = commit(2, ALICE, create(R1, post_record("a")))
    assert index.apply(created).applied
    assert index.apply(commit(3, ALICE, delete(R1))).applied
    # An at-least-once stream sends the create again: it must not bring the post back.
    assert not index.apply(created).applied
    assert timeline(index, BOB) == []
    assert index.cursor() == 3


def test_an_event_and_its_cursor_commit_together_or_not_at_all(
    index: AppViewIndex, tmp_path: Path
) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    # Make the second post's insert fail inside the transaction, after the first op succeeded.
    with sqlite3.connect(tmp_path / "appview.sqlite") as conn:
        conn.execute(
            f"""CREATE TRIGGER refuse BEFORE INSERT ON posts
                WHEN NEW.uri = '{uri(ALICE, R2)}'
                BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"""
        )
    event = commit(2, ALICE, create(R1, post_record("a")), create(R2, post_record("b")))
    with pytest.raises(sqlite3.DatabaseError):
        index.apply(event)
    assert index.cursor() == 1
    assert index.post(uri(ALICE, R1)) is None  # the first op was rolled back with the rest


def test_refused_ops_are_reported_and_the_rest_indexed(index: AppViewIndex) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    bad_key = create("bad key!", post_record("x"))
    result = index.apply(commit(2, ALICE, bad_key, create(R1, post_record("ok"))))
    assert result.applied and len(result.refused_ops) == 1
    assert timeline(index, BOB) == [uri(ALICE, R1)]


def test_order_is_by_created_at_across_offsets_then_uri(index: AppViewIndex) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    # 10:00+02:00 is 08:00Z: older than 09:00Z although its text sorts later.
    index.apply(commit(2, ALICE, create(R1, post_record("a", None, "2024-05-01T10:00:00+02:00"))))
    index.apply(commit(3, ALICE, create(R2, post_record("b", None, "2024-05-01T09:00:00.5Z"))))
    index.apply(commit(4, CAROL, create(R2, post_record("c", None, "2024-05-01T09:00:00.500Z"))))
    assert timeline(index, BOB) == [uri(CAROL, R2), uri(ALICE, R2), uri(ALICE, R1)]


def test_sort_key_normalises_and_falls_back() -> None:
    assert sort_key("2024-05-01T10:00:00+02:00", "x") == "2024-05-01T08:00:00.000000Z"
    assert sort_key("2024-05-01T10:00:00.123456789Z", "x") == "2024-05-01T10:00:00.123456Z"
    assert sort_key("yesterday", "fallback") == "fallback"
    assert sort_key(None, "fallback") == "fallback"


def test_post_without_cid_gets_the_cid_of_its_record() -> None:
    record = post_record("x")
    post = indexed_post(ALICE, RecordOp("create", POST_COLLECTION, R1, None, record), "t")
    assert post.cid == record_cid(record).encode()


def test_bind_source_resets_an_index_built_from_another_stream(index: AppViewIndex) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    index.apply(commit(2, ALICE, create(R1, post_record("a"))))
    assert index.bind_source("ws://stratos.test") is False
    assert index.cursor() == 2
    assert index.bind_source("ws://elsewhere.test") is True
    assert index.cursor() is None
    assert timeline(index, BOB) == []


def test_reset_forgets_everything(index: AppViewIndex) -> None:
    index.apply(enrol(1, BOB, ENGINEERING))
    index.apply(commit(2, ALICE, create(R1, post_record("a"))))
    index.reset()
    assert index.cursor() is None
    assert timeline(index, BOB) == []
    assert index.viewer(BOB).enrolled is False
    # After a reset, seq 1 of the new stream applies again.
    assert index.apply(enrol(1, BOB, ENGINEERING)).applied
