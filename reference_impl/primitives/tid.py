"""TIDs: the timestamp identifiers used as repo revisions and record keys.

A TID is a 64-bit integer (top bit 0) holding 53 bits of microseconds since the Unix epoch and a
10-bit clock identifier, written as 13 characters of "base32-sortable"
(``234567abcdefghijklmnopqrstuvwxyz``), so string order equals numeric order.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
TID_LENGTH = 13
MAX_TIMESTAMP_US = (1 << 53) - 1
MAX_CLOCK_ID = (1 << 10) - 1
# The first character carries only 4 bits (the top bit must be 0), so it stops at 'j'.
_FIRST_CHARS = frozenset(ALPHABET[:16])


class TidError(ValueError):
    """A string that is not a TID, or a timestamp/clock id that does not fit."""


class TidParts(NamedTuple):
    timestamp_us: int
    clock_id: int


def encode_tid(timestamp_us: int, clock_id: int) -> str:
    if not 0 <= timestamp_us <= MAX_TIMESTAMP_US:
        raise TidError(f"timestamp {timestamp_us} does not fit in 53 bits")
    if not 0 <= clock_id <= MAX_CLOCK_ID:
        raise TidError(f"clock id {clock_id} does not fit in 10 bits")
    return _encode_int((timestamp_us << 10) | clock_id)


def _encode_int(value: int) -> str:
    chars = []
    for _ in range(TID_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def is_valid_tid(text: str) -> bool:
    return (
        isinstance(text, str)
        and len(text) == TID_LENGTH
        and text[0] in _FIRST_CHARS
        and all(ch in _INDEX for ch in text)
    )


def tid_to_int(text: str) -> int:
    if not is_valid_tid(text):
        raise TidError(f"not a TID: {text!r}")
    value = 0
    for ch in text:
        value = value * 32 + _INDEX[ch]
    return value


def decode_tid(text: str) -> TidParts:
    value = tid_to_int(text)
    return TidParts(value >> 10, value & MAX_CLOCK_ID)


def is_later(a: str, b: str) -> bool:
    """True when TID ``a`` is strictly later than TID ``b``."""
    return tid_to_int(a) > tid_to_int(b)


def _now_us() -> int:
    return time.time_ns() // 1000


class TidClock:
    """Hands out strictly increasing TIDs.

    Wall time can repeat a microsecond or step backwards (NTP); a rev must still never repeat
    or go down, so each TID is at least one microsecond above the last one issued or observed.
    A restarted service calls :meth:`observe` with the newest rev it persisted.
    """

    def __init__(self, clock_id: int | None = None, now_us: Callable[[], int] = _now_us) -> None:
        if clock_id is None:
            clock_id = secrets.randbelow(MAX_CLOCK_ID + 1)
        if not 0 <= clock_id <= MAX_CLOCK_ID:
            raise TidError(f"clock id {clock_id} does not fit in 10 bits")
        self._clock_id = clock_id
        self._now_us = now_us
        self._last = -1
        # Services may call next() from worker threads; two callers must not get the same TID.
        self._lock = threading.Lock()

    @property
    def clock_id(self) -> int:
        return self._clock_id

    def observe(self, tid: str) -> None:
        """Remember a TID issued elsewhere (e.g. the last persisted rev); later TIDs exceed it."""
        value = tid_to_int(tid)
        with self._lock:
            self._last = max(self._last, value)

    def next(self) -> str:
        with self._lock:
            last_timestamp = self._last >> 10 if self._last >= 0 else -1
            timestamp = max(self._now_us(), last_timestamp + 1)
            if timestamp > MAX_TIMESTAMP_US:
                raise TidError("TID timestamp space exhausted")
            value = (timestamp << 10) | self._clock_id
            self._last = value
        return _encode_int(value)

    def next_after(self, tid: str | None) -> str:
        """Observe ``tid`` (if any) and return the next TID: the usual "new rev" step."""
        if tid is not None:
            self.observe(tid)
        return self.next()
