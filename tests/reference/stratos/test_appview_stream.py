"""The stream consumer's pure parts and its per-frame decisions (no network here)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from appview_fakes import (
    ALICE,
    BOB,
    ENGINEERING,
    commit_body,
    create_op,
    enrollment_body,
    error_frame,
    frame,
    post_record,
)

from reference_impl.stratos.appview.index import AppViewIndex
from reference_impl.stratos.appview.stream import (
    FrameOutcome,
    StreamConsumer,
    StreamSource,
    backoff_delay,
    subscribe_url,
)


def test_subscribe_url() -> None:
    assert subscribe_url("http://127.0.0.1:3100/", "s3cret", 42) == (
        "ws://127.0.0.1:3100/xrpc/zone.stratos.sync.subscribeRecords?syncToken=s3cret&cursor=42"
    )
    assert subscribe_url("https://stratos.example", "a b&c", 7) == (
        "wss://stratos.example/xrpc/zone.stratos.sync.subscribeRecords?syncToken=a+b%26c&cursor=7"
    )
    # A fresh index asks for cursor=0 ("everything after seq 0"): no cursor would mean "live
    # events only" and lose the history.
    assert subscribe_url("http://h", "", 0).endswith("subscribeRecords?cursor=0")


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, 0.1, 5.0) for n in range(10)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 5.0
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert backoff_delay(10_000, 0.1, 5.0) == 5.0  # no overflow after a long outage


@pytest.fixture
def consumer(tmp_path: Path) -> StreamConsumer:
    index = AppViewIndex.open(tmp_path)
    index.bind_source("http://stratos.test")
    return StreamConsumer(index, StreamSource("http://stratos.test", "token"))


def handle(consumer: StreamConsumer, data: bytes, cursor_sent: int = 0) -> FrameOutcome:
    return asyncio.run(consumer.handle_message(data, cursor_sent))


def bob_enrols(seq: int) -> bytes:
    return frame("#enrollment", enrollment_body(BOB, True, (ENGINEERING,), seq))


def alice_posts(seq: int) -> bytes:
    return frame("#commit", commit_body(ALICE, [create_op("3kaaaaaaaaaa2", post_record("x"))], seq))


def test_events_are_applied(consumer: StreamConsumer) -> None:
    assert handle(consumer, bob_enrols(seq=1)) is FrameOutcome.APPLIED
    assert handle(consumer, alice_posts(seq=2)) is FrameOutcome.APPLIED
    assert consumer.index.cursor() == 2
    assert len(consumer.index.timeline(BOB, 10, None).posts) == 1


def test_garbage_and_unknown_frames_are_skipped_without_moving_the_cursor(
    consumer: StreamConsumer,
) -> None:
    assert handle(consumer, b"\x00\x01garbage") is FrameOutcome.SKIPPED
    assert handle(consumer, frame("#identity", {"seq": 5, "did": ALICE})) is FrameOutcome.SKIPPED
    assert handle(consumer, frame("#commit", {"seq": 5})) is FrameOutcome.SKIPPED
    assert handle(consumer, frame("#info", {"name": "OutdatedCursor"})) is FrameOutcome.SKIPPED
    assert consumer.index.cursor() is None


def test_future_cursor_clears_the_index(consumer: StreamConsumer) -> None:
    handle(consumer, bob_enrols(seq=1))
    handle(consumer, alice_posts(seq=2))
    outcome = handle(consumer, error_frame("FutureCursor", "ahead"), cursor_sent=2)
    assert outcome is FrameOutcome.CLOSE
    assert consumer.index.cursor() is None
    assert consumer.index.timeline(BOB, 10, None).posts == ()


def test_other_errors_close_but_keep_the_index(consumer: StreamConsumer) -> None:
    handle(consumer, bob_enrols(seq=1))
    for error in ("AuthRequired", "ConsumerTooSlow"):
        assert handle(consumer, error_frame(error), cursor_sent=1) is FrameOutcome.CLOSE
    assert consumer.index.cursor() == 1
