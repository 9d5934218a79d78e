"""Per-DID write limits in fixed windows (STR-RL-*), with the headers clients read.

The first counted write of a DID opens a window of ``window_ms``; each accepted write counts one
until ``max_writes`` is reached; the window then closes by itself. No web framework here: the
clock is injected so tests can move time, and callers turn states into headers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import RateLimitSettings

Clock = Callable[[], float]  # seconds, monotonic

# Expired windows are dropped once the table holds this many DIDs, so it cannot grow forever.
_PRUNE_AT = 4096


@dataclass(frozen=True)
class RateLimitWindow:
    """One DID's current window: when it opened and how many writes it has counted."""

    started_ms: int
    used: int

    def ends_ms(self, window_ms: int) -> int:
        return self.started_ms + window_ms

    def is_open(self, now_ms: int, window_ms: int) -> bool:
        return now_ms < self.ends_ms(window_ms)


@dataclass(frozen=True)
class RateLimitState:
    """What the four ``RateLimit-*`` headers say for one DID at one moment."""

    limit: int
    remaining: int
    reset_s: int  # whole seconds until the window ends, >= 1
    window_s: int

    @property
    def policy(self) -> str:
        return f"{self.limit};w={self.window_s}"

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": self.policy,
        }


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    state: RateLimitState
    retry_after_s: int | None = None  # set when refused


class WriteRateLimiter:
    """Fixed windows per DID. Thread-safe: handlers run on worker threads.

    One lock guards a dictionary update of a few microseconds; it never spans I/O, so DIDs do
    not wait on each other's writes (STR-RL-03).
    """

    def __init__(self, settings: RateLimitSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._windows: dict[str, RateLimitWindow] = {}
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _open_window(self, did: str, now_ms: int) -> RateLimitWindow | None:
        window = self._windows.get(did)
        if window is not None and not window.is_open(now_ms, self.settings.window_ms):
            del self._windows[did]
            return None
        return window

    def _state(self, window: RateLimitWindow | None, now_ms: int) -> RateLimitState:
        limit = self.settings.max_writes
        if window is None:
            # No window open: the next counted write would open a full one.
            return RateLimitState(limit, limit, self.settings.window_s, self.settings.window_s)
        left_ms = window.ends_ms(self.settings.window_ms) - now_ms
        return RateLimitState(
            limit=limit,
            remaining=max(0, limit - window.used),
            reset_s=max(1, math.ceil(left_ms / 1000)),
            window_s=self.settings.window_s,
        )

    def state(self, did: str | None) -> RateLimitState:
        """The current state for ``did``; an unknown caller (None) gets a fresh window's."""
        now_ms = self._now_ms()
        with self._lock:
            window = self._open_window(did, now_ms) if did is not None else None
            return self._state(window, now_ms)

    def acquire(self, did: str, count: int = 1) -> RateLimitDecision:
        """Count ``count`` writes if they all fit in the window; otherwise count nothing."""
        if count < 0:
            raise ValueError("count must not be negative")
        now_ms = self._now_ms()
        with self._lock:
            window = self._open_window(did, now_ms)
            used = window.used if window is not None else 0
            if used + count > self.settings.max_writes:
                state = self._state(window, now_ms)
                return RateLimitDecision(False, state, retry_after_s=state.reset_s)
            if count == 0:
                return RateLimitDecision(True, self._state(window, now_ms))
            if window is None:
                if len(self._windows) >= _PRUNE_AT:
                    self._prune(now_ms)
                window = RateLimitWindow(started_ms=now_ms, used=count)
            else:
                window = RateLimitWindow(window.started_ms, window.used + count)
            self._windows[did] = window
            return RateLimitDecision(True, self._state(window, now_ms))

    def release(self, did: str, count: int = 1) -> None:
        """Give back writes counted by ``acquire`` that were not accepted after all."""
        now_ms = self._now_ms()
        with self._lock:
            window = self._open_window(did, now_ms)
            if window is not None:
                self._windows[did] = RateLimitWindow(window.started_ms, max(0, window.used - count))

    def _prune(self, now_ms: int) -> None:
        expired = [
            did
            for did, window in self._windows.items()
            if not window.is_open(now_ms, self.settings.window_ms)
        ]
        for did in expired:
            del self._windows[did]
