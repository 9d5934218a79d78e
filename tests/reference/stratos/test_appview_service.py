"""The AppView as a served app, following a fake event stream over a real WebSocket.

The fake stream (``appview_fakes.FakeEventStream``) stands in for Stratos only here; viewers
authenticate through ``TestAuthenticator``, a test double of the DPoP auth layer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from appview_fakes import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DESIGN,
    ENGINEERING,
    POST,
    FakeEventStream,
    create_op,
    delete_op,
    post_record,
    running_appview,
    update_op,
    wait_until,
)

from lexicons import load_catalog

R1, R2, R3, R4 = "3kaaaaaaaaaa2", "3kbbbbbbbbbb2", "3kcccccccccc2", "3kdddddddddd2"


def uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


@pytest.fixture
def stream() -> FakeEventStream:
    with FakeEventStream() as fake:
        fake.enroll(ALICE, ENGINEERING)
        fake.enroll(BOB, ENGINEERING)
        fake.enroll(CAROL, DESIGN)
        yield fake


@pytest.mark.requirement("STR-BND-08")
def test_a_post_reaches_same_domain_viewers_quickly_and_never_others(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        seq = stream.commit(ALICE, create_op(R1, post_record("ship it", (ENGINEERING,))))
        leaked: list[str] = []

        def bob_sees_it() -> bool:
            # Look at the other-domain viewers on every poll, not only at the end.
            for outsider in (CAROL, DAVE):
                if uri(ALICE, R1) in appview.uris(outsider):
                    leaked.append(outsider)
            return uri(ALICE, R1) in appview.uris(BOB)

        elapsed = wait_until(bob_sees_it, timeout=5)
        assert elapsed < 1.0, f"indexing took {elapsed:.2f} s"
        assert appview.health()["cursor"] >= seq
        assert leaked == []
        assert appview.uris(CAROL) == []
        assert appview.uris(DAVE) == []
        assert appview.uris(ALICE) == [uri(ALICE, R1)]  # the author

        # Unbounded posts reach every enrolled viewer, and only them.
        stream.commit(CAROL, create_op(R2, post_record("hello all")))
        appview.wait_for_cursor(stream.latest_seq())
        assert uri(CAROL, R2) in appview.uris(BOB)
        assert appview.uris(DAVE) == []


def test_timeline_output_matches_the_lexicon(stream: FakeEventStream, tmp_path: Path) -> None:
    stream.commit(ALICE, create_op(R1, post_record("one", (ENGINEERING,), "2024-05-01T10:00:00Z")))
    stream.commit(BOB, create_op(R2, post_record("two", None, "2024-05-01T11:00:00Z")))
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        response = appview.timeline(BOB)
        assert response.status_code == 200
        body = response.json()
        load_catalog().validate_output("zone.stratos.feed.getTimeline", body)
        first, second = (item["post"] for item in body["feed"])
        assert first["uri"] == uri(BOB, R2)  # newest first
        assert first["author"] == {"did": BOB} and "boundary" not in first
        assert second["record"]["text"] == "one"
        assert second["boundary"] == {"values": [{"value": ENGINEERING}]}
        assert "cursor" not in body  # everything fitted
        # The auth layer's response headers reach the client (DPoP-Nonce in production).
        assert response.headers["x-test-viewer"] == BOB


def test_pagination_and_parameter_errors(stream: FakeEventStream, tmp_path: Path) -> None:
    rkeys = [f"3kzzzzzzzz{n:02d}" for n in range(7)]
    for n, rkey in enumerate(rkeys):
        stream.commit(ALICE, create_op(rkey, post_record(str(n), None, "2024-05-01T10:00:00Z")))
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = appview.timeline(BOB, **params).json()
            seen.extend(item["post"]["uri"] for item in body["feed"])
            cursor = body.get("cursor")
            if cursor is None:
                break
        # Same createdAt everywhere: the uri orders them, none repeated or skipped.
        assert seen == sorted((uri(ALICE, r) for r in rkeys), reverse=True)

        assert appview.timeline(BOB, limit=101).status_code == 400
        assert appview.timeline(BOB, limit=0).status_code == 400
        bad = appview.timeline(BOB, cursor="not-a-cursor")
        assert (bad.status_code, bad.json()["error"]) == (400, "InvalidRequest")
        assert len(appview.timeline(BOB).json()["feed"]) == 7  # default limit 50


def test_viewer_authentication_is_required(stream: FakeEventStream, tmp_path: Path) -> None:
    with running_appview(tmp_path, stream) as appview:
        anonymous = appview.timeline(None)
        assert (anonymous.status_code, anonymous.json()["error"]) == (401, "AuthRequired")
        forged = appview.http.get(
            f"{appview.url}/xrpc/zone.stratos.feed.getTimeline",
            headers={"Authorization": "Bearer something"},
        )
        assert forged.status_code == 401


def test_updates_deletes_and_unenrolment_remove_posts(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    with running_appview(tmp_path, stream) as appview:
        stream.commit(ALICE, create_op(R1, post_record("eng", (ENGINEERING,))))
        stream.commit(ALICE, create_op(R2, post_record("also eng", (ENGINEERING,))))
        stream.commit(BOB, create_op(R3, post_record("bob's")))
        appview.wait_for_cursor(stream.latest_seq())
        assert set(appview.uris(BOB)) == {uri(ALICE, R1), uri(ALICE, R2), uri(BOB, R3)}

        stream.commit(ALICE, delete_op(R1))
        wait_until(lambda: uri(ALICE, R1) not in appview.uris(BOB), timeout=2)

        # Re-bounded to design: leaves Bob's timeline, enters Carol's.
        stream.commit(ALICE, update_op(R2, post_record("now design", (DESIGN,))))
        wait_until(lambda: uri(ALICE, R2) in appview.uris(CAROL), timeout=2)
        assert uri(ALICE, R2) not in appview.uris(BOB)

        stream.enroll(ALICE, enrolled=False)
        wait_until(lambda: appview.uris(CAROL) == [uri(BOB, R3)], timeout=2)
        assert appview.uris(BOB) == [uri(BOB, R3)]


def test_restart_resumes_from_the_saved_cursor_without_duplicates(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    stream.commit(ALICE, create_op(R1, post_record("before", (ENGINEERING,))))
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        assert appview.uris(BOB) == [uri(ALICE, R1)]
    stopped_at = stream.latest_seq()
    first_run = len(stream.subscriptions)

    # Written while the AppView is down.
    stream.commit(ALICE, create_op(R2, post_record("while down", (ENGINEERING,))))
    stream.commit(ALICE, delete_op(R1))
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        assert appview.uris(BOB) == [uri(ALICE, R2)]
    # The first run replayed everything (cursor 0); the restarted one went on from where the
    # first stopped.
    cursors = stream.subscription_cursors()
    assert cursors[0] == 0
    assert cursors[first_run] == stopped_at


def test_a_stream_that_replays_old_events_cannot_duplicate_or_resurrect(
    tmp_path: Path,
) -> None:
    with FakeEventStream(honour_cursor=False) as stream:
        stream.enroll(BOB, ENGINEERING)
        stream.commit(ALICE, create_op(R1, post_record("deleted later")))
        stream.commit(ALICE, create_op(R2, post_record("kept")))
        stream.commit(ALICE, delete_op(R1))
        with running_appview(tmp_path, stream) as appview:
            appview.wait_for_cursor(stream.latest_seq())
        with running_appview(tmp_path, stream) as appview:
            # This server sends everything again from seq 1.
            stream.commit(ALICE, create_op(R3, post_record("new")))
            appview.wait_for_cursor(stream.latest_seq())
            assert appview.uris(BOB) == [uri(ALICE, R3), uri(ALICE, R2)]


def test_reconnects_after_a_dropped_connection_and_an_error_frame(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        stream.drop_live_connections()
        stream.commit(ALICE, create_op(R1, post_record("after the drop", (ENGINEERING,))))
        wait_until(lambda: uri(ALICE, R1) in appview.uris(BOB), timeout=3)

        stream.send_error_to_live_connections("ConsumerTooSlow", "catch up")
        stream.commit(ALICE, create_op(R2, post_record("after the error", (ENGINEERING,))))
        wait_until(lambda: uri(ALICE, R2) in appview.uris(BOB), timeout=3)
        assert sorted(appview.uris(BOB)) == sorted([uri(ALICE, R1), uri(ALICE, R2)])
        # Each reconnection resumed from the cursor saved at that moment, never from scratch.
        cursors = stream.subscription_cursors()
        assert cursors[0] == 0 and all(c is not None and c >= 3 for c in cursors[1:])


def test_future_cursor_rebuilds_the_index_from_the_new_stream(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    stream.commit(ALICE, create_op(R1, post_record("old history", (ENGINEERING,))))
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        assert appview.uris(BOB) == [uri(ALICE, R1)]
    saved = stream.latest_seq()
    first_run = len(stream.subscriptions)

    # Stratos lost its event log and starts again from seq 1 with different content.
    stream.lose_history()
    stream.enroll(BOB, ENGINEERING)
    stream.commit(CAROL, create_op(R4, post_record("new history")))
    assert stream.latest_seq() < saved
    with running_appview(tmp_path, stream) as appview:
        wait_until(lambda: appview.uris(BOB) == [uri(CAROL, R4)], timeout=3)
        assert appview.health()["cursor"] == stream.latest_seq()
    cursors = stream.subscription_cursors()[first_run:]
    assert cursors[:2] == [saved, 0]  # refused with FutureCursor, then replayed from the start


def test_wrong_sync_token_indexes_nothing_and_keeps_retrying(
    stream: FakeEventStream, tmp_path: Path
) -> None:
    with running_appview(tmp_path, stream, sync_token="wrong") as appview:
        wait_until(lambda: len(stream.subscriptions) >= 3, timeout=3)
        # Each refused session is open for the instant between the handshake and the
        # AuthRequired frame; between sessions the AppView must say it is not connected.
        wait_until(lambda: appview.health()["connected"] is False, timeout=3)
        assert appview.health()["cursor"] is None
        assert appview.uris(BOB) == []
    assert {s.sync_token for s in stream.subscriptions} == {"wrong"}


def test_a_failing_index_write_is_retried_not_lost(stream: FakeEventStream, tmp_path: Path) -> None:
    with running_appview(tmp_path, stream) as appview:
        appview.wait_for_cursor(stream.latest_seq())
        before = stream.latest_seq()
        with sqlite3.connect(tmp_path / "appview.sqlite") as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON posts "
                "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        stream.commit(ALICE, create_op(R1, post_record("stuck", (ENGINEERING,))))
        subscriptions = len(stream.subscriptions)
        # The consumer survives the failure and keeps resubscribing from the unchanged cursor.
        wait_until(lambda: len(stream.subscriptions) >= subscriptions + 2, timeout=3)
        assert appview.health()["cursor"] == before
        assert stream.subscription_cursors()[-1] == before
        with sqlite3.connect(tmp_path / "appview.sqlite") as conn:
            conn.execute("DROP TRIGGER refuse")
        wait_until(lambda: appview.uris(BOB) == [uri(ALICE, R1)], timeout=3)
