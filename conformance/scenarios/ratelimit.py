"""Probes for Stratos's per-DID write limit (STR-RL-01..06).

One run (:func:`run_rate_limit`) does what the requirements need, in order:

1. every candidate DID writes once, which reads ``RateLimit-Policy``; the DID to drive to its
   limit is one whose window that write opened (``Remaining`` = ``Limit - 1``), the *other* one
   with room for its writes; when none fits, the run waits for the advertised reset (a
   progress bar), so the budget it spends is a whole window's;
2. the other DID writes a few times on its own (its latency baseline);
3. the limited DID spends exactly the budget — single ``putRecord`` writes at first and last,
   ``applyWrites`` batches in between (each op counts one), and halfway a few reads — every
   response kept with its headers; then the next write, which must be a 429;
4. while limited: reads by the limited DID, writes by the other DID (latency again);
5. a wait for the advertised reset (progress bar, bounded by the reset plus a small slack), then
   writes again until one is accepted or the slack is spent.

Writes go over a small pool of rkeys (create, then update), so a run adds a few dozen records to
the repo, not hundreds. Without ``RateLimit-*`` headers the run falls back to the profile's
promised limit (or the spec's 300 per 60 s) and first exhausts the window blind, so the spend
still starts in a window of its own.

Also here: :class:`RateLimitHeaders` / :class:`RateLimitPolicy` (pure parsing of the four
fields), :func:`parse_retry_after`, and the import probe of STR-RL-06.
"""

from __future__ import annotations

import email.utils
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.clients.pds import AuthLike, PdsClient, write_create, write_delete
from conformance.clients.xrpc import XrpcClient
from conformance.repo_verify import CarInvalid, verify_repo
from conformance.scenarios.base import Probe, describe_response, is_success
from conformance.scenarios.stratos_access import (
    CAR_MEDIA_TYPE,
    POST_COLLECTION,
    Viewer,
    body_object,
    post,
    random_tid,
)

SPEC_LIMIT = 300
SPEC_WINDOW_S = 60.0
RATE_LIMIT_EXCEEDED = "RateLimitExceeded"
FIELDS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
IMPORT_RECORDS = 310

_INT = re.compile(r"\d{1,15}")


# --- the headers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitPolicy:
    """A ``RateLimit-Policy`` (``300;w=60``; also the later drafts' ``"name";q=300;w=60``)."""

    quota: int
    window_s: float
    raw: str = ""

    @classmethod
    def parse(cls, value: str | None) -> RateLimitPolicy | None:
        """The first policy of the field, or None when it has no quota or no ``w=``."""
        if value is None or not value.strip():
            return None
        first = value.split(",")[0]
        parts = [p.strip() for p in first.split(";")]
        quota = int(parts[0]) if _INT.fullmatch(parts[0]) else None
        window: int | None = None
        for param in parts[1:]:
            name, _, raw = param.partition("=")
            name, raw = name.strip().lower(), raw.strip().strip('"')
            if name == "w" and _INT.fullmatch(raw):
                window = int(raw)
            elif name == "q" and quota is None and _INT.fullmatch(raw):
                quota = int(raw)
        if quota is None or window is None or window <= 0:
            return None
        return cls(quota, float(window), value.strip())

    def __str__(self) -> str:
        return f"{self.quota};w={self.window_s:g}"

    @property
    def rate(self) -> float:
        """Writes per second this policy allows in the long run."""
        return self.quota / self.window_s

    def allows_more_than(self, other: RateLimitPolicy) -> bool:
        """More writes in one window, or a higher long-run rate, than ``other``."""
        return self.quota > other.quota or self.rate > other.rate + 1e-9


def _int_field(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.split(",")[0].split(";")[0].strip()  # older drafts: "300, 300;w=60"
    return int(text) if _INT.fullmatch(text) else None


@dataclass(frozen=True)
class RateLimitHeaders:
    """The four ``RateLimit-*`` fields of one response (None where absent or malformed) and
    their raw values (lower-case field name → value, only the fields present)."""

    limit: int | None
    remaining: int | None
    reset: int | None
    policy: RateLimitPolicy | None
    raw: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, response: httpx.Response) -> RateLimitHeaders:
        raw = {name.lower(): response.headers[name] for name in FIELDS if name in response.headers}
        return cls(
            _int_field(raw.get("ratelimit-limit")),
            _int_field(raw.get("ratelimit-remaining")),
            _int_field(raw.get("ratelimit-reset")),
            RateLimitPolicy.parse(raw.get("ratelimit-policy")),
            raw,
        )

    @property
    def any_present(self) -> bool:
        return bool(self.raw)

    def problems(self) -> tuple[str, ...]:
        """What is missing, malformed or self-contradictory in these four fields."""
        found: list[str] = []
        parsed: dict[str, object] = {
            "ratelimit-limit": self.limit,
            "ratelimit-remaining": self.remaining,
            "ratelimit-reset": self.reset,
            "ratelimit-policy": self.policy,
        }
        for name in FIELDS:
            key = name.lower()
            if key not in self.raw:
                found.append(f"no {name}")
            elif parsed[key] is None:
                found.append(f"{name} {self.raw[key]!r} is malformed")
        if self.limit is not None and self.policy is not None and self.limit != self.policy.quota:
            found.append(
                f"RateLimit-Limit {self.limit} is not the quota of RateLimit-Policy {self.policy}"
            )
        if self.limit is not None and self.remaining is not None and self.remaining > self.limit:
            found.append(
                f"RateLimit-Remaining {self.remaining} exceeds RateLimit-Limit {self.limit}"
            )
        if self.policy is not None and self.reset is not None:
            if self.reset > self.policy.window_s + 1:
                found.append(
                    f"RateLimit-Reset {self.reset} s is longer than the policy's window "
                    f"({self.policy.window_s:g} s)"
                )
        return tuple(found)

    def describe(self) -> str:
        if not self.raw:
            return "no RateLimit-* fields"
        return ", ".join(
            f"{name}: {self.raw[name.lower()]}" for name in FIELDS if name.lower() in self.raw
        )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP-date (seconds from ``now``)."""
    if value is None:
        return None
    text = value.strip()
    if _INT.fullmatch(text):
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after_of(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


# --- progress and waiting ---------------------------------------------------------------------

Advance = Callable[[float], None]
ProgressFactory = Callable[[str, float | None], AbstractContextManager[Advance]]


def _ignore(amount: float = 1.0) -> None:
    return None


@contextmanager
def no_progress(description: str, total: float | None = None) -> Iterator[Advance]:
    yield _ignore


def wait_seconds(
    seconds: float,
    progress: ProgressFactory,
    description: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    step: float = 0.25,
) -> float:
    """Sleep ``seconds`` behind a progress bar (seconds as units); returns the time waited."""
    start = time.monotonic()
    if seconds <= 0:
        return 0.0
    with progress(description, seconds) as advance:
        left = seconds
        for _ in range(math.ceil(seconds / step) + 1):
            if left <= 0:
                break
            chunk = min(step, left)
            sleep(chunk)
            advance(chunk)
            left = seconds - (time.monotonic() - start)
    return time.monotonic() - start


# --- one DID's writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write request: what came back, how many writes (ops) it carried, when it came back
    (seconds since the run began), its round trip, how many reads the same DID sent between
    its previous write and this one, and how many writes *another* DID sent in that time."""

    probe: Probe
    ops: int
    at_s: float
    latency_s: float
    reads_before: int = 0
    others_before: int = 0

    @property
    def response(self) -> httpx.Response:
        return self.probe.response

    @property
    def headers(self) -> RateLimitHeaders:
        return RateLimitHeaders.parse(self.probe.response)

    @property
    def accepted(self) -> bool:
        return is_success(self.probe.response)

    @property
    def refused(self) -> bool:
        return self.probe.response.status_code == 429


class RateLimitScenarioError(Exception):
    """The run could not go on (a write answered neither 2xx nor 429): the harness cannot judge
    the limit, which is not the same as the service breaking it."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class _Writer:
    """Writes of one DID over a pool of rkeys: ``putRecord`` for one write, ``applyWrites``
    (create, or update once the rkey exists) for several."""

    def __init__(self, stratos: XrpcClient, viewer: Viewer, t0: float, pool_size: int) -> None:
        if viewer.did is None:
            raise ValueError("rate-limit writes need an authenticated DID")
        self.stratos = stratos
        self.viewer = viewer
        self.did = viewer.did
        self.t0 = t0
        self.tag = secrets.token_hex(3)
        pool: list[str] = []
        while len(pool) < max(1, pool_size):
            rkey = random_tid()
            if rkey not in pool:
                pool.append(rkey)
        self.pool = tuple(pool)
        self.existing: set[str] = set()
        self.count = 0
        self.reads_since = 0
        self.others_since = 0

    def _value(self) -> dict[str, Any]:
        self.count += 1
        return post(f"rl {self.tag} {self.count}")

    def write(self, ops: int, what: str) -> Write:
        started = time.perf_counter()
        if ops == 1:
            rkey = self.pool[0]
            response = self.stratos.procedure(
                "com.atproto.repo.putRecord",
                {
                    "repo": self.did,
                    "collection": POST_COLLECTION,
                    "rkey": rkey,
                    "record": self._value(),
                },
                auth=self.viewer.auth,
            )
            keys = [rkey]
            case = f"{self.viewer.role}: putRecord ({what})"
        else:
            keys = list(self.pool[:ops])
            writes = []
            for rkey in keys:
                kind = "update" if rkey in self.existing else "create"
                writes.append(
                    {
                        "$type": f"com.atproto.repo.applyWrites#{kind}",
                        "collection": POST_COLLECTION,
                        "rkey": rkey,
                        "value": self._value(),
                    }
                )
            response = self.stratos.procedure(
                "com.atproto.repo.applyWrites",
                {"repo": self.did, "writes": writes},
                auth=self.viewer.auth,
            )
            case = f"{self.viewer.role}: applyWrites of {ops} ops ({what})"
        latency = time.perf_counter() - started
        if is_success(response):
            self.existing.update(keys)
        write = Write(
            Probe(case, response),
            ops,
            time.monotonic() - self.t0,
            latency,
            self.reads_since,
            self.others_since,
        )
        self.reads_since = self.others_since = 0
        return write

    def read(self, index: int) -> Probe:
        """One read of the DID's own repo, cycling through four kinds."""
        self.reads_since += 1
        kind = index % 4
        auth = self.viewer.auth
        rkey = self.pool[0]
        if kind == 0:
            params = {"repo": self.did, "collection": POST_COLLECTION, "rkey": rkey}
            return Probe(
                f"{self.viewer.role}: getRecord of its own record",
                self.stratos.query("com.atproto.repo.getRecord", params, auth=auth),
            )
        if kind == 1:
            params2: dict[str, str | int] = {
                "repo": self.did,
                "collection": POST_COLLECTION,
                "limit": 5,
            }
            return Probe(
                f"{self.viewer.role}: listRecords of its own repo",
                self.stratos.query("com.atproto.repo.listRecords", params2, auth=auth),
            )
        if kind == 2:
            return Probe(
                f"{self.viewer.role}: describeRepo of its own repo",
                self.stratos.query("com.atproto.repo.describeRepo", {"repo": self.did}, auth=auth),
            )
        uri = f"at://{self.did}/{POST_COLLECTION}/{rkey}"
        return Probe(
            f"{self.viewer.role}: hydrateRecord of its own record",
            self.stratos.query("zone.stratos.repo.hydrateRecord", {"uri": uri}, auth=auth),
        )


def _checked(write: Write, *, allow_429: bool = True) -> Write:
    if write.accepted or (allow_429 and write.refused):
        return write
    raise RateLimitScenarioError(
        f"{write.probe.case}: expected 2xx or 429, got {describe_response(write.response)}",
        write.response,
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitRun:
    """Everything one rate-limit run saw (see the module docstring for the order)."""

    limited: str
    other: str
    limit: int
    window_s: float
    policy_source: str  # "RateLimit-Policy", "RateLimit-Limit", "target profile", "spec default"
    observed: RateLimitPolicy | None
    promised: RateLimitPolicy | None
    fresh_wait_s: float
    used_before: int  # writes the window already held when the spend began (0: a window of its own)
    spend: tuple[Write, ...]  # from the window's first write; ends early at a refusal
    extra: tuple[Write, ...]  # after the budget was spent; the first is "the next write"
    reads_midway: tuple[Probe, ...]
    reads_limited: tuple[Probe, ...]
    other_baseline: tuple[Write, ...]
    other_limited: tuple[Write, ...]
    advertised_reset_s: float | None
    reset_wait_s: float
    after_reset: tuple[Write, ...]
    spend_s: float
    restarts: int = 0
    blind: bool = False  # no RateLimit-Remaining: the budget was counted by the harness

    @property
    def writes(self) -> tuple[Write, ...]:
        """The limited DID's writes of the window, in order."""
        return self.spend + self.extra

    @property
    def refused(self) -> Write | None:
        return next((w for w in self.writes if w.refused), None)

    @property
    def accepted_ops(self) -> int:
        """Writes the window accepted for the limited DID (including ``used_before``)."""
        return self.used_before + sum(w.ops for w in self.writes if w.accepted)

    @property
    def all_writes(self) -> tuple[Write, ...]:
        """Every write response of the run (both DIDs), for the every-header check."""
        return self.writes + self.other_baseline + self.other_limited + self.after_reset


def _policy_of(
    headers: RateLimitHeaders, promised: RateLimitPolicy | None
) -> tuple[int, float, str]:
    if headers.policy is not None:
        return headers.policy.quota, headers.policy.window_s, "RateLimit-Policy"
    window = promised.window_s if promised is not None else SPEC_WINDOW_S
    if headers.limit is not None:
        return headers.limit, window, "RateLimit-Limit"
    if promised is not None:
        return promised.quota, promised.window_s, "target profile"
    return SPEC_LIMIT, SPEC_WINDOW_S, "spec default"


def _advertised_wait(write: Write, window_s: float) -> float | None:
    """Seconds until the window ends by this response: the larger of RateLimit-Reset and
    Retry-After, whichever are present."""
    values = [v for v in (write.headers.reset, retry_after_of(write.response)) if v is not None]
    return float(max(values)) if values else None


def _wait_for(write: Write, window_s: float) -> float:
    """How long until ``write``'s DID has a fresh window, by what the response said."""
    if write.refused:
        return _advertised_wait(write, window_s) or window_s
    reset = write.headers.reset
    return float(reset) if reset is not None else window_s


def run_rate_limit(
    stratos: XrpcClient,
    candidates: Sequence[Viewer],
    *,
    promised: RateLimitPolicy | None = None,
    progress: ProgressFactory = no_progress,
    batch_size: int = 25,
    reads: int = 6,
    other_writes: int | None = None,
    max_wait_s: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimitRun:
    """Drive one of ``candidates`` (two or more DIDs) to its limit while another writes.

    Every candidate writes once first; the DID driven to its limit is one whose window that
    write opened (``Remaining`` = ``Limit - 1``), so no wait is needed when one is idle; the
    other is one with room for its writes. Only when none fits does the run wait for the
    advertised reset."""
    if len(candidates) < 2:
        raise ValueError("a rate-limit run needs two DIDs")
    t0 = time.monotonic()
    writers = [_Writer(stratos, viewer, t0, batch_size) for viewer in candidates]
    firsts = [_checked(w.write(1, "first write, reads its window")) for w in writers]
    policy_headers = next((f.headers for f in firsts if f.headers.policy is not None), None)
    policy_headers = policy_headers or firsts[0].headers
    limit, window_s, source = _policy_of(policy_headers, promised)
    observed = policy_headers.policy
    k = other_writes if other_writes is not None else max(1, min(10, limit // 4))
    cap = min(max_wait_s, 2 * window_s + 5)
    slack = max(2.0, 0.05 * window_s)
    blind = all(f.headers.remaining is None for f in firsts)

    def fresh(write: Write) -> bool:
        remaining = write.headers.remaining
        return write.accepted and remaining is not None and remaining >= limit - 1

    def roomy(write: Write) -> bool:
        remaining = write.headers.remaining
        return write.accepted and (remaining is None or remaining >= 2 * k + 1)

    order = range(len(firsts))
    li = next((i for i in order if fresh(firsts[i])), None)
    if li is None:
        li = min(order, key=lambda i: _wait_for(firsts[i], window_s))
    others = [i for i in order if i != li]
    oi = next((i for i in others if roomy(firsts[i])), None)
    if oi is None:
        oi = min(others, key=lambda i: _wait_for(firsts[i], window_s))
    lw, ow = writers[li], writers[oi]
    limited, other = candidates[li], candidates[oi]
    opener, other_probe = firsts[li], firsts[oi]
    # The other candidates' first writes came after the limited DID's: a shared counter shows
    # in the limited DID's next write (judged by STR-RL-03, not as a countdown error).
    lw.others_since = len(firsts) - 1 - li

    fresh_wait = 0.0
    restarts = 0
    for attempt in range(3):
        waits: list[float] = []
        if opener.refused:
            waits.append(_wait_for(opener, window_s))
        elif blind:
            # Nothing says how full the window is: exhaust it, then wait for its end.
            refusal, accepted_before = _exhaust(lw, limit, batch_size)
            waits.append((_advertised_wait(refusal, window_s) if refusal else None) or window_s)
            if other_writes is None and refusal is not None:
                # The window held at most this many: keep the other DID well inside its own.
                k = max(1, min(k, accepted_before // 4))
        elif not fresh(opener):
            waits.append(_wait_for(opener, window_s))
        if attempt == 0 and not roomy(other_probe):
            waits.append(_wait_for(other_probe, window_s))
        if waits:
            fresh_wait += wait_seconds(
                min(max(waits) + 0.5, cap),
                progress,
                f"waiting for a fresh rate-limit window ({limited.role})",
                sleep=sleep,
            )
            opener = _checked(lw.write(1, "first write of a fresh window"))
            if opener.refused:
                raise RateLimitScenarioError(
                    f"{opener.probe.case}: still refused after waiting for the advertised reset",
                    opener.response,
                )
        h = opener.headers
        used_before = 0 if h.remaining is None else max(0, limit - 1 - h.remaining)

        other_baseline = tuple(_checked(ow.write(1, f"baseline {i + 1}/{k}")) for i in range(k))
        lw.others_since += len(other_baseline)  # marks the limited DID's next write

        spend_started = time.monotonic()
        spend, reads_midway, rolled = _spend(lw, opener, limit, used_before, batch_size, reads)
        if rolled and attempt < 2:
            restarts += 1
            last = spend[-1]
            fresh_wait += wait_seconds(
                min((last.headers.reset or window_s) + 0.5, cap),
                progress,
                f"window ended mid-spend; waiting for the next ({limited.role})",
                sleep=sleep,
            )
            opener = _checked(lw.write(1, "first write of a fresh window"))
            continue
        break

    extra: list[Write] = []
    if not any(w.refused for w in spend):
        if not reads_midway and reads:
            reads_midway = tuple(lw.read(i) for i in range(reads))
        # The first is "the next write" (it must be a 429); should the service accept it, go on
        # (bounded) until it refuses, so the reset can still be waited for and judged.
        for number in range(limit + 10):
            what = "the write after the budget" if not number else "one more write past it"
            write = lw.write(1, what)
            extra.append(write)
            if not write.accepted:
                break
    spend_s = time.monotonic() - spend_started
    writes = (*spend, *extra)
    refused = next((w for w in writes if w.refused), None)

    reads_limited: tuple[Probe, ...] = ()
    if refused is not None:
        reads_limited = tuple(lw.read(i) for i in range(reads))
    other_limited = tuple(
        _checked(ow.write(1, f"while the other DID is limited {i + 1}/{k}")) for i in range(k)
    )

    advertised: float | None = None
    waited = 0.0
    after: list[Write] = []
    if refused is not None:
        advertised = _advertised_wait(refused, window_s)
        target = refused.at_s + min(advertised if advertised is not None else window_s, cap)
        waited = wait_seconds(
            target - (time.monotonic() - t0),
            progress,
            f"waiting for the advertised rate-limit reset ({limited.role})",
            sleep=sleep,
        )
        deadline = time.monotonic() + slack
        for attempt_no in range(200):
            write = lw.write(1, f"after the reset, attempt {attempt_no + 1}")
            after.append(write)
            if not write.refused or time.monotonic() > deadline:
                break
            sleep(0.25)

    return RateLimitRun(
        limited.role,
        other.role,
        limit,
        window_s,
        source,
        observed,
        promised,
        fresh_wait,
        used_before,
        tuple(spend),
        tuple(extra),
        reads_midway,
        reads_limited,
        other_baseline,
        other_limited,
        advertised,
        waited,
        tuple(after),
        spend_s,
        restarts,
        blind,
    )


def _exhaust(lw: _Writer, limit: int, batch_size: int) -> tuple[Write | None, int]:
    """Write until refused (at most ``limit + batch_size`` writes): the refusal, if any, and
    how many writes were accepted before it."""
    sent = 0
    for _ in range(limit + batch_size + 1):
        if sent > limit + batch_size:
            break
        ops = max(1, min(batch_size, limit + batch_size - sent))
        write = _checked(lw.write(ops, "exhausting a window of unknown state"))
        if write.refused:
            return write, sent
        sent += ops
    return None, sent


def _spend(
    lw: _Writer, opener: Write, limit: int, used_before: int, batch_size: int, reads: int
) -> tuple[list[Write], tuple[Probe, ...], bool]:
    """Spend what is left of the budget after ``opener``: single writes first and last,
    batches between, reads halfway. Returns the writes, the reads and whether the window
    ended (Remaining went back up after the window's advertised end) mid-spend."""
    spend = [opener]
    accepted = opener.ops
    singles = 1
    reads_midway: tuple[Probe, ...] = ()
    opener_reset = opener.headers.reset
    for _ in range(limit + 10):
        last = spend[-1]
        left = limit - used_before - accepted
        last_remaining = last.headers.remaining
        if last_remaining is not None:
            left = min(left, last_remaining)
        if left <= 0:
            break
        if not reads_midway and reads and left <= limit // 2:
            reads_midway = tuple(lw.read(i) for i in range(reads))
            ops = 1
        elif singles < 3 or left <= 2:
            ops = 1
        else:
            ops = max(1, min(batch_size, left - 2))
        write = _checked(lw.write(ops, f"spending the budget, {left} left"))
        spend.append(write)
        singles += ops == 1
        if write.refused:
            break
        accepted += ops
        remaining = write.headers.remaining
        if (
            remaining is not None
            and last_remaining is not None
            and remaining > last_remaining
            and opener_reset is not None
            and write.at_s - opener.at_s >= opener_reset - 1.0
        ):
            return spend, reads_midway, True
    return spend, reads_midway, False


# --- STR-RL-06: importRepo of more than the limit -------------------------------------------


@dataclass(frozen=True)
class ImportProbes:
    """Setup (the Stratos repo emptied, records written to the PDS repo), the PDS export, the
    number of records the CAR holds, and importRepo's answer."""

    setup: tuple[Probe, ...]
    export: Probe
    car_records: int | None
    car_problem: str | None
    imported: Probe | None
    wanted: int


def ensure_empty_repo(
    stratos: XrpcClient, viewer: Viewer, reenroll: Callable[[], httpx.Response]
) -> tuple[Probe, ...]:
    """Make ``viewer`` an enrolled user whose Stratos repo holds no records: unenrol and enrol
    again (``reenroll`` returns the enrolment's final answer) unless it already is one."""
    did = viewer.did
    if did is None:
        raise ValueError("an authenticated viewer is needed")
    probes: list[Probe] = []
    status = stratos.query("zone.stratos.enrollment.status", {"did": did}, auth=viewer.auth)
    probes.append(Probe(f"{viewer.role}: enrollment.status", status))
    body = body_object(status)
    if body is not None and body.get("enrolled") is True:
        describe = stratos.query("com.atproto.repo.describeRepo", {"repo": did}, auth=viewer.auth)
        probes.append(Probe(f"{viewer.role}: describeRepo of its own repo", describe))
        described = body_object(describe)
        if described is not None and described.get("collections") == []:
            return tuple(probes)
        unenroll = stratos.procedure("zone.stratos.enrollment.unenroll", {}, auth=viewer.auth)
        probes.append(Probe(f"{viewer.role}: unenroll (to start from an empty repo)", unenroll))
    final = reenroll()
    probes.append(Probe(f"{viewer.role}: enrol again", final))
    return tuple(probes)


def write_pds_posts(
    pds: PdsClient, auth: AuthLike, did: str, count: int, *, batch: int = 100
) -> tuple[tuple[Probe, ...], tuple[str, ...]]:
    """``count`` new posts in the user's PDS repo (applyWrites batches); the probes and the
    rkeys written (for :func:`delete_pds_posts`)."""
    tag = secrets.token_hex(3)
    rkeys: list[str] = []
    while len(rkeys) < count:
        rkey = random_tid()
        if rkey not in rkeys:
            rkeys.append(rkey)
    probes: list[Probe] = []
    written: list[str] = []
    for start in range(0, count, batch):
        chunk = rkeys[start : start + batch]
        writes = [
            write_create(POST_COLLECTION, post(f"rl-06 {tag} {start + i}"), rkey=rkey)
            for i, rkey in enumerate(chunk)
        ]
        response = pds.apply_writes(auth, did, writes)
        probes.append(Probe(f"PDS applyWrites creating {len(chunk)} posts", response))
        if not is_success(response):
            break
        written += chunk
    return tuple(probes), tuple(written)


def delete_pds_posts(
    pds: PdsClient, auth: AuthLike, did: str, rkeys: Sequence[str], *, batch: int = 100
) -> tuple[Probe, ...]:
    probes: list[Probe] = []
    for start in range(0, len(rkeys), batch):
        chunk = rkeys[start : start + batch]
        response = pds.apply_writes(auth, did, [write_delete(POST_COLLECTION, k) for k in chunk])
        probes.append(Probe(f"PDS applyWrites deleting {len(chunk)} posts", response))
    return tuple(probes)


def probe_import_over_limit(
    stratos: XrpcClient,
    pds: PdsClient,
    viewer: Viewer,
    setup: Sequence[Probe],
    *,
    wanted: int = IMPORT_RECORDS,
) -> ImportProbes:
    """Export the user's PDS repo (which ``setup`` filled with ``wanted`` posts, the Stratos
    repo being empty) with ``com.atproto.sync.getRepo`` and import it into Stratos in one
    call."""
    if viewer.did is None or viewer.auth is None:
        raise ValueError("an authenticated viewer is needed")
    export = Probe(f"{viewer.role}: PDS sync.getRepo", pds.sync_get_repo(viewer.did))
    car_records: int | None = None
    problem: str | None = None
    imported: Probe | None = None
    if is_success(export.response):
        try:
            car_records = len(verify_repo(export.response.content, viewer.did, None).records)
        except CarInvalid as exc:
            problem = str(exc)
        imported = Probe(
            f"{viewer.role}: importRepo of the PDS export ({car_records} records)",
            stratos.procedure(
                "zone.stratos.repo.importRepo",
                data=export.response.content,
                content_type=CAR_MEDIA_TYPE,
                auth=viewer.auth,
            ),
        )
    return ImportProbes(tuple(setup), export, car_records, problem, imported, wanted)


def latencies(writes: Sequence[Write]) -> list[float]:
    return [w.latency_s for w in writes]
