"""Clock checks (CLOCK-01 SHOULD, CLOCK-02 MUST).

CLOCK-01 has two thresholds: an offset of 1 s or more is a warning, 10 s or more a failure. Both
come back as a ``ClockFailure`` (a ``Failure`` with ``severity`` "warn" or "fail" and the measured
offsets attached, so a report can show them without parsing text). Offsets are judged on what
the measurement *proves*: the smallest magnitude the measured bounds allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.checks.base import Failure
from conformance.checks.dpop import rejection_problem
from conformance.scenarios.base import describe_response
from conformance.scenarios.clock import ClockOffset, IatSkewProbes
from conformance.scenarios.dpop import is_success

WARN = "warn"
FAIL = "fail"


@dataclass(frozen=True)
class ClockFailure(Failure):
    """A CLOCK-01 finding; ``severity`` is ``"warn"`` (≥ warn threshold) or ``"fail"``."""

    severity: str = FAIL
    offsets: tuple[ClockOffset, ...] = ()


def _signed(seconds: float) -> str:
    return f"{seconds:+.3f} s"


def _describe(offset: ClockOffset) -> str:
    return (
        f"{offset.url}: offset {_signed(offset.estimate)} "
        f"(between {_signed(offset.low)} and {_signed(offset.high)}, {offset.samples} Date samples"
        f"{'' if offset.consistent else ', samples inconsistent'})"
    )


def _severity(magnitude: float, warn_at: float, fail_at: float) -> str | None:
    if magnitude >= fail_at:
        return FAIL
    if magnitude >= warn_at:
        return WARN
    return None


def check_clock_offset(
    offset: ClockOffset, *, warn_at: float = 1.0, fail_at: float = 10.0
) -> ClockFailure | None:
    """CLOCK-01: the target's ``Date`` differs from the harness clock by less than ``warn_at``."""
    if offset.samples == 0:
        return ClockFailure(
            "CLOCK-01",
            "clock offset cannot be measured: no usable Date header",
            f"{offset.url}: expected one HTTP Date header per response, "
            "none of the responses had a usable one",
            offset.responses[-1:],
            severity=FAIL,
            offsets=(offset,),
        )
    severity = _severity(offset.least_magnitude, warn_at, fail_at)
    if severity is None:
        return None
    direction = "ahead of" if offset.low > 0 else "behind"
    return ClockFailure(
        "CLOCK-01",
        f"target clock {direction} the harness clock by {offset.least_magnitude:.1f} s or more",
        f"expected |offset| < {warn_at:g} s (warn at {warn_at:g} s, fail at {fail_at:g} s); "
        f"measured {_describe(offset)}",
        offset.responses[-1:],
        severity=severity,
        offsets=(offset,),
    )


def check_clock_pair(
    first: ClockOffset, second: ClockOffset, *, warn_at: float = 1.0, fail_at: float = 10.0
) -> ClockFailure | None:
    """CLOCK-01 (pairwise): two targets (e.g. the AppView and its PDS) agree within ``warn_at``.

    The difference ``first - second`` lies in
    ``[first.low - second.high, first.high - second.low]``.
    """
    for offset in (first, second):
        if offset.samples == 0:
            return check_clock_offset(offset, warn_at=warn_at, fail_at=fail_at)
    low, high = first.low - second.high, first.high - second.low
    magnitude = 0.0 if low <= 0 <= high else min(abs(low), abs(high))
    severity = _severity(magnitude, warn_at, fail_at)
    if severity is None:
        return None
    estimate = first.estimate - second.estimate
    return ClockFailure(
        "CLOCK-01",
        f"clocks of two services differ by {magnitude:.1f} s or more",
        f"expected the two clocks within {warn_at:g} s of each other (warn at {warn_at:g} s, "
        f"fail at {fail_at:g} s); {first.url} minus {second.url} is {_signed(estimate)} "
        f"(between {_signed(low)} and {_signed(high)}); "
        f"measured {_describe(first)}; {_describe(second)}",
        first.responses[-1:] + second.responses[-1:],
        severity=severity,
        offsets=(first, second),
    )


def check_iat_skew(probes: IatSkewProbes) -> Failure | None:
    """CLOCK-02: proofs ±5 s off are accepted; proofs 5 minutes off are rejected (401)."""
    refused = [p for p in probes.tolerated if not is_success(p.response)]
    problems = [
        f"{p.case}: expected 2xx (ordinary skew), got {describe_response(p.response)}"
        for p in refused
    ]
    accepted = [p for p in probes.rejected if rejection_problem(p) is not None]
    problems += [f"{p.case}: expected 401, got {describe_response(p.response)}" for p in accepted]
    if not problems:
        return None
    return Failure(
        "CLOCK-02",
        "proof iat tolerance wrong: ordinary skew refused or far-off iat accepted",
        "; ".join(problems),
        tuple(p.response for p in refused + accepted),
    )
