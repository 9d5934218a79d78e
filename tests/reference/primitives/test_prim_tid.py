from __future__ import annotations

from pathlib import Path

import pytest

from reference_impl.primitives.tid import (
    MAX_CLOCK_ID,
    TidClock,
    TidError,
    decode_tid,
    encode_tid,
    is_later,
    is_valid_tid,
)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        pytest.skip(f"missing {path}")
    return [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]


def test_interop_tid_syntax(interop_dir: Path) -> None:
    valid = _lines(interop_dir / "syntax/tid_syntax_valid.txt")
    invalid = _lines(interop_dir / "syntax/tid_syntax_invalid.txt")
    assert valid and invalid
    for text in valid:
        assert is_valid_tid(text), text
    for text in invalid:
        assert not is_valid_tid(text), text


def test_encode_decode_round_trip() -> None:
    tid = encode_tid(1_700_000_000_000_000, 17)
    assert len(tid) == 13
    assert decode_tid(tid) == (1_700_000_000_000_000, 17)
    assert encode_tid(0, 0) == "2222222222222"


def test_string_order_matches_time_order() -> None:
    a = encode_tid(1_000_000, MAX_CLOCK_ID)
    b = encode_tid(1_000_001, 0)
    assert a < b
    assert is_later(b, a)
    assert not is_later(a, a)


@pytest.mark.parametrize(("ts", "clock"), [(-1, 0), (1 << 53, 0), (0, 1024), (0, -1)])
def test_encode_rejects_out_of_range(ts: int, clock: int) -> None:
    with pytest.raises(TidError):
        encode_tid(ts, clock)


def test_clock_is_strictly_increasing_on_the_same_microsecond() -> None:
    clock = TidClock(clock_id=5, now_us=lambda: 1_700_000_000_000_000)
    tids = [clock.next() for _ in range(1000)]
    assert len(set(tids)) == len(tids)
    assert tids == sorted(tids)
    assert all(decode_tid(t).clock_id == 5 for t in tids)


def test_clock_survives_a_step_backwards() -> None:
    now = [2_000_000_000_000_000]
    clock = TidClock(clock_id=1, now_us=lambda: now[0])
    first = clock.next()
    now[0] -= 60_000_000  # wall clock jumps back a minute
    second = clock.next()
    assert is_later(second, first)
    now[0] += 120_000_000
    third = clock.next()
    assert is_later(third, second)
    assert decode_tid(third).timestamp_us == now[0]


def test_restarted_clock_continues_above_persisted_rev() -> None:
    # The service persisted a rev from "the future" (clock skew before the restart).
    persisted = encode_tid(3_000_000_000_000_000, 900)
    clock = TidClock(clock_id=3, now_us=lambda: 1_000_000_000_000_000)
    clock.observe(persisted)
    nxt = clock.next()
    assert is_later(nxt, persisted)
    assert is_later(clock.next_after(clock.next()), nxt)


def test_observing_an_older_rev_does_not_move_the_clock_back() -> None:
    clock = TidClock(now_us=lambda: 5_000_000)
    latest = clock.next()
    clock.observe(encode_tid(1, 0))
    assert is_later(clock.next(), latest)


def test_observe_rejects_non_tid() -> None:
    with pytest.raises(TidError):
        TidClock().observe("not-a-tid")


def test_real_clock_ids_and_values_are_valid() -> None:
    clock = TidClock()
    tid = clock.next()
    assert is_valid_tid(tid)
    assert decode_tid(tid).clock_id == clock.clock_id
