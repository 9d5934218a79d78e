"""Stratos's per-DID write limit (STR-RL-01..06): one small check per requirement, judging one
:class:`~conformance.scenarios.ratelimit.RateLimitRun` (or the import probe of STR-RL-06).

Who judges what, so that one broken behaviour fails one requirement:

- STR-RL-01 — the window accepts at most the advertised budget; each ``applyWrites`` op counts
  one (Remaining drops by the batch size); the write after the budget is a 429
  ``RateLimitExceeded`` with ``Retry-After``; the observed policy allows no more than the profile
  promises.
- STR-RL-02 — the four ``RateLimit-*`` fields on every write response (429 included), well
  formed and consistent; Remaining drops by one per single write and is honest (no refusal
  while it says writes are left, no acceptance after it said none are).
- STR-RL-03 — the other DID's writes succeed, stay about as fast, and are not counted with the
  limited DID's.
- STR-RL-04 — after the advertised reset, a write succeeds.
- STR-RL-05 — reads are answered while limited and do not lower Remaining.
- STR-RL-06 — importRepo of more than 300 records is accepted in one call.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from conformance.checks.base import Failure
from conformance.scenarios.base import Probe, describe_response, is_success, json_body
from conformance.scenarios.ratelimit import (
    RATE_LIMIT_EXCEEDED,
    SPEC_LIMIT,
    ImportProbes,
    RateLimitRun,
    Write,
    latencies,
    retry_after_of,
)
from conformance.scenarios.stratos_access import body_object, median

MAX_LISTED_PROBLEMS = 6
# STR-RL-03: "no slowdown beyond noise"
SLOWDOWN_FACTOR = 2.0
SLOWDOWN_ALLOWANCE_S = 0.050


def _joined(problems: Sequence[str]) -> str:
    shown = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "; ".join(shown)


def _control(requirement: str, writes: Iterable[Write]) -> Failure | None:
    for write in writes:
        if not write.accepted:
            return Failure(
                requirement,
                "a correct request was refused, so the rejections prove nothing",
                f"control request ({write.probe.case}): expected 2xx, "
                f"got {describe_response(write.response)}",
                (write.response,),
            )
    return None


def _window_rolled(run: RateLimitRun, write: Write) -> bool:
    """Whether ``write`` came after the end of the window the spend started in."""
    opener = run.spend[0]
    reset = opener.headers.reset
    length = float(reset) if reset is not None else run.window_s
    return write.at_s - opener.at_s >= length - 1.0


def _pairs(writes: Sequence[Write]) -> Iterable[tuple[Write, Write]]:
    return itertools.pairwise(writes)


# --- STR-RL-01 ------------------------------------------------------------------------------------


def check_rate_limit_enforced(run: RateLimitRun) -> Failure | None:
    """STR-RL-01: at most the budget per window per DID (each applyWrites op one write), then
    429 ``RateLimitExceeded`` with ``Retry-After``; no more than the profile promises."""
    if (failure := _control("STR-RL-01", run.spend[:1])) is not None:
        return failure
    if run.promised is not None and run.observed is not None:
        if run.observed.allows_more_than(run.promised):
            return Failure(
                "STR-RL-01",
                "the service allows more writes than the deployment promises",
                f"RateLimit-Policy {run.observed} allows more than the profile's "
                f"{run.promised} (writes;w=seconds)",
                (run.spend[0].response,),
            )
    # Judged only where single writes count down honestly; otherwise the headers themselves
    # are wrong (STR-RL-02) and the budget is judged by the count of accepted writes below.
    singles_honest = not _countdown_problems(run)
    for prev, cur in _pairs(run.writes):
        before, after = prev.headers.remaining, cur.headers.remaining
        if (
            singles_honest
            and cur.ops > 1
            and cur.accepted
            and prev.accepted
            and cur.reads_before == 0
            and cur.others_before == 0
            and before is not None
            and after is not None
            and after <= before
            and before - after != cur.ops
        ):
            return Failure(
                "STR-RL-01",
                "applyWrites ops are not each counted as one write",
                f"{cur.probe.case}: RateLimit-Remaining went from {before} to {after}, "
                f"expected {before - cur.ops} (each of the {cur.ops} ops is one write)",
                (prev.response, cur.response),
            )
    if run.accepted_ops > run.limit:
        over = next((w for w in reversed(run.writes) if w.accepted), run.writes[-1])
        earlier = (
            f" ({run.used_before} already counted when the run began)" if run.used_before else ""
        )
        return Failure(
            "STR-RL-01",
            "more writes than the limit were accepted in one window",
            f"{run.accepted_ops} writes accepted in one {run.window_s:g} s window{earlier}, the "
            f"limit is {run.limit} (from {run.policy_source}); {over.probe.case} answered "
            f"{describe_response(over.response)}",
            (over.response,),
        )
    refused = run.refused
    if refused is None:
        last = run.writes[-1]
        return Failure(
            "STR-RL-01",
            "the write after the budget was not refused with 429",
            f"{last.probe.case}: expected 429 {RATE_LIMIT_EXCEEDED}, got "
            f"{describe_response(last.response)}",
            (last.response,),
        )
    problems = []
    body = json_body(refused.response)
    error = body.get("error") if isinstance(body, dict) else None
    if error != RATE_LIMIT_EXCEEDED:
        problems.append(f"error {error!r}, expected {RATE_LIMIT_EXCEEDED!r}")
    raw = refused.response.headers.get("retry-after")
    if raw is None:
        problems.append("no Retry-After")
    elif retry_after_of(refused.response) is None:
        problems.append(f"Retry-After {raw!r} is neither delta-seconds nor an HTTP-date")
    if problems:
        return Failure(
            "STR-RL-01",
            "the 429 lacks RateLimitExceeded or Retry-After",
            f"{refused.probe.case}: 429 with " + "; ".join(problems),
            (refused.response,),
        )
    return None


# --- STR-RL-02 ------------------------------------------------------------------------------------


def _countdown_problems(run: RateLimitRun) -> list[tuple[str, Write, Write]]:
    found: list[tuple[str, Write, Write]] = []
    limited = run.writes
    # More writes accepted than the budget is STR-RL-01's failure, not the headers'.
    over_budget = run.accepted_ops > run.limit
    for prev, cur in _pairs(limited):
        before, after = prev.headers.remaining, cur.headers.remaining
        if before is None or after is None or not prev.accepted:
            continue
        if cur.reads_before or cur.others_before:  # judged by STR-RL-05 / STR-RL-03
            continue
        if _window_rolled(run, cur):
            continue
        if cur.refused and before >= cur.ops:
            found.append(
                (
                    f"{cur.probe.case} was refused although the previous response said "
                    f"RateLimit-Remaining {before}",
                    prev,
                    cur,
                )
            )
        elif cur.accepted and before == 0:
            if over_budget:
                continue
            found.append(
                (
                    f"{cur.probe.case} was accepted although the previous response said "
                    "RateLimit-Remaining 0",
                    prev,
                    cur,
                )
            )
        elif cur.accepted and cur.ops == 1 and after != before - 1:
            found.append(
                (
                    f"{cur.probe.case}: RateLimit-Remaining went from {before} to {after}, "
                    "expected it to count down by one",
                    prev,
                    cur,
                )
            )
    for series in (run.other_baseline, run.other_limited):
        for prev, cur in _pairs(series):
            before, after = prev.headers.remaining, cur.headers.remaining
            if before is None or after is None or not (prev.accepted and cur.accepted):
                continue
            if after != before - 1 and after <= before:
                found.append(
                    (
                        f"{cur.probe.case}: RateLimit-Remaining went from {before} to {after}, "
                        "expected it to count down by one",
                        prev,
                        cur,
                    )
                )
    return found


def check_rate_limit_headers(run: RateLimitRun) -> Failure | None:
    """STR-RL-02: every write response, the 429 included, carries RateLimit-Limit, -Remaining,
    -Reset and -Policy, well formed and consistent; Remaining counts down by one per write."""
    if (failure := _control("STR-RL-02", run.spend[:1])) is not None:
        return failure
    for write in run.all_writes:
        problems = list(write.headers.problems())
        if write.refused and write.headers.remaining not in (None, 0):
            problems.append(f"a 429 with RateLimit-Remaining {write.headers.remaining}")
        if problems:
            return Failure(
                "STR-RL-02",
                "a write response lacks or garbles its RateLimit-* fields",
                f"{write.probe.case} ({describe_response(write.response)}): {_joined(problems)}",
                (write.response,),
            )
    countdown = _countdown_problems(run)
    if countdown:
        message, prev, cur = countdown[0]
        extra = f" ({len(countdown) - 1} more like it)" if len(countdown) > 1 else ""
        return Failure(
            "STR-RL-02",
            "RateLimit-Remaining does not count down by one per write",
            message + extra,
            (prev.response, cur.response),
        )
    return None


# --- STR-RL-03 ------------------------------------------------------------------------------------


def check_other_did_unaffected(run: RateLimitRun) -> Failure | None:
    """STR-RL-03: while one DID is at its limit, another DID's writes succeed, are not slowed
    (median within 2x its own baseline + 50 ms) and are not counted with the first DID's."""
    if (failure := _control("STR-RL-03", run.other_baseline)) is not None:
        return failure
    for write in run.other_limited:
        if not write.accepted:
            return Failure(
                "STR-RL-03",
                "a DID at its limit blocks another DID",
                f"{write.probe.case}: expected 2xx while only {run.limited} is limited, "
                f"got {describe_response(write.response)}",
                (write.response,),
            )
    for prev, cur in _pairs(run.writes):
        before, after = prev.headers.remaining, cur.headers.remaining
        if (
            cur.others_before
            and prev.accepted
            and cur.accepted
            and before is not None
            and after is not None
            and not _window_rolled(run, cur)
            and after < before - cur.ops
        ):
            return Failure(
                "STR-RL-03",
                "another DID's writes are counted with this DID's",
                f"{run.limited}'s RateLimit-Remaining went from {before} to {after} over "
                f"{cur.probe.case} while {run.other} wrote {cur.others_before} times, "
                f"expected {before - cur.ops}",
                (prev.response, cur.response),
            )
    if run.other_baseline and run.other_limited:
        before = run.other_baseline[-1].headers.remaining
        after = run.other_limited[0].headers.remaining
        if before is not None and after is not None and after < before - 1:
            return Failure(
                "STR-RL-03",
                "another DID's writes are counted with the limited DID's",
                f"{run.other}'s RateLimit-Remaining fell from {before} to {after} over one write "
                f"of its own while {run.limited} spent its budget",
                (run.other_baseline[-1].response, run.other_limited[0].response),
            )
        baseline = median(latencies(run.other_baseline))
        limited = median(latencies(run.other_limited))
        allowed = SLOWDOWN_FACTOR * baseline + SLOWDOWN_ALLOWANCE_S
        if limited > allowed:
            return Failure(
                "STR-RL-03",
                "a DID at its limit slows another DID down",
                f"{run.other}'s writes took {limited * 1000:.1f} ms median while {run.limited} "
                f"was limited, {baseline * 1000:.1f} ms before (allowed up to "
                f"{allowed * 1000:.1f} ms: 2x baseline + 50 ms)",
                tuple(w.response for w in run.other_limited[:2]),
            )
    return None


# --- STR-RL-04 ------------------------------------------------------------------------------------


def check_writes_resume(run: RateLimitRun) -> Failure | None:
    """STR-RL-04: once the advertised reset has passed, writes succeed again."""
    if (failure := _control("STR-RL-04", run.spend[:1])) is not None:
        return failure
    if not run.after_reset:
        raise ValueError("the run has no writes after a reset to judge (it was never limited)")
    last = run.after_reset[-1]
    if last.accepted:
        return None
    advertised = (
        f"the advertised {run.advertised_reset_s:g} s"
        if run.advertised_reset_s is not None
        else f"the {run.window_s:g} s window (no reset advertised)"
    )
    return Failure(
        "STR-RL-04",
        "writes are still refused after the window has passed",
        f"after waiting {run.reset_wait_s:.1f} s ({advertised}) and retrying "
        f"{len(run.after_reset)} time(s), {last.probe.case} answered "
        f"{describe_response(last.response)}",
        (last.response,),
    )


# --- STR-RL-05 ------------------------------------------------------------------------------------


def check_reads_not_counted(run: RateLimitRun) -> Failure | None:
    """STR-RL-05: reads are answered while the DID is write-limited, and do not lower
    RateLimit-Remaining."""
    if (failure := _control("STR-RL-05", run.spend[:1])) is not None:
        return failure
    for probe in (*run.reads_midway, *run.reads_limited):
        if not is_success(probe.response):
            limited = probe in run.reads_limited
            return Failure(
                "STR-RL-05",
                "a read was refused" + (" while the DID was write-limited" if limited else ""),
                f"{probe.case}: expected 200, got {describe_response(probe.response)}",
                (probe.response,),
            )
    for prev, cur in _pairs(run.writes):
        if not cur.reads_before:
            continue
        before, after = prev.headers.remaining, cur.headers.remaining
        if before is None or after is None or not prev.accepted or _window_rolled(run, cur):
            continue
        if cur.refused and before >= cur.ops:
            return Failure(
                "STR-RL-05",
                "reads are counted against the write limit",
                f"RateLimit-Remaining was {before}; after {cur.reads_before} reads, "
                f"{cur.probe.case} was refused",
                (prev.response, cur.response),
            )
        if cur.accepted and after < before - cur.ops:
            return Failure(
                "STR-RL-05",
                "reads are counted against the write limit",
                f"RateLimit-Remaining went from {before} to {after} over {cur.reads_before} "
                f"reads and {cur.probe.case}, expected {before - cur.ops}",
                (prev.response, cur.response),
            )
    return None


# --- STR-RL-06 ------------------------------------------------------------------------------------


def check_import_over_limit(probes: ImportProbes) -> Failure | None:
    """STR-RL-06: importRepo of a repo of more than 300 records is accepted in one call, every
    post imported, not refused by the per-record write limit."""
    probe: Probe | None = probes.imported
    if probe is None:
        raise ValueError("no importRepo was sent (the export failed)")
    response = probe.response
    if not is_success(response):
        title = (
            "importRepo was refused by the per-record write limit"
            if response.status_code == 429
            else "importRepo of a repo of more than 300 records was refused"
        )
        return Failure(
            "STR-RL-06",
            title,
            f"{probe.case}: expected 200 with the count, got {describe_response(response)}",
            (response,),
        )
    body = body_object(response) or {}
    imported = body.get("imported")
    needed = max(SPEC_LIMIT + 1, min(probes.wanted, probes.car_records or probes.wanted))
    if isinstance(imported, bool) or not isinstance(imported, int) or imported < needed:
        return Failure(
            "STR-RL-06",
            "importRepo did not import the whole repo in one call",
            f"{probe.case}: imported {imported!r}, expected at least {needed} "
            f"(the CAR holds {probes.car_records} records)",
            (response,),
        )
    return None
