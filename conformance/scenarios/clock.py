"""Clock probes (CLOCK-01/02): measure a target's clock through its HTTP ``Date`` header, and
send DPoP proofs with skewed ``iat``.

``Date`` has a resolution of one second, so one response says little. Each sample bounds the
offset (server clock minus harness clock): the server stamped the response at some instant of
``[t_send, t_recv]`` (harness clock), and at that instant its own clock read a time in
``[Date, Date + 1 + date_lag)``. So ``offset`` lies in
``[Date - t_recv, Date + 1 + date_lag - t_send]``.
Samples spread across the phases of a second make the intersection narrow.

``date_lag`` allows for servers that cache their ``Date`` value and refresh it about once a
second (uvicorn does: its ``Date`` can be a whole second stale), which otherwise make a correct
clock look up to a second behind. It only widens the upper bound, so a clock running *ahead*
(the case that breaks logins) is still measured tightly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from conformance.scenarios.base import Probe
from conformance.scenarios.dpop import DpopCaller, ProtectedEndpoint

DEFAULT_DATE_LAG = 1.1


@dataclass(frozen=True)
class ClockSample:
    """One request: harness clock when it was sent and when the answer came, the ``Date`` read
    (epoch seconds; None when missing, repeated with different values, or unparsable)."""

    t_send: float
    t_recv: float
    date: float | None


@dataclass(frozen=True)
class ClockOffset:
    """A target's clock offset (its clock minus the harness clock, seconds).

    ``low``/``high`` bound the offset for sure (given ``date_lag``); ``estimate`` is the midpoint
    of the tightest bounds the samples allow. ``samples`` counts usable samples; with none the
    bounds are infinite and the estimate is NaN. ``consistent`` is False when the samples
    contradict each other (a clock that stepped, or ``Date`` more stale than ``date_lag``); the
    bounds are then the union of the samples' bounds.
    """

    url: str
    low: float
    high: float
    estimate: float
    samples: int
    date_lag: float = DEFAULT_DATE_LAG
    consistent: bool = True
    responses: tuple[httpx.Response, ...] = field(default=(), repr=False, compare=False)

    @property
    def least_magnitude(self) -> float:
        """The smallest |offset| the bounds allow (0 when they straddle zero)."""
        if self.low <= 0 <= self.high:
            return 0.0
        return min(abs(self.low), abs(self.high))


def parse_http_date(response: httpx.Response) -> float | None:
    values = set(response.headers.get_list("date"))
    if len(values) != 1:
        return None
    try:
        return parsedate_to_datetime(values.pop()).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def offset_from_samples(
    url: str,
    samples: Sequence[ClockSample],
    *,
    date_lag: float = DEFAULT_DATE_LAG,
    responses: tuple[httpx.Response, ...] = (),
) -> ClockOffset:
    """Intersect the samples' bounds (pure)."""
    usable = [s for s in samples if s.date is not None]
    if not usable:
        return ClockOffset(url, -math.inf, math.inf, math.nan, 0, date_lag, True, responses)
    lows = [s.date - s.t_recv for s in usable if s.date is not None]
    strict_highs = [s.date + 1.0 - s.t_send for s in usable if s.date is not None]
    highs = [h + date_lag for h in strict_highs]
    low, high = max(lows), min(highs)
    consistent = low <= high
    if not consistent:
        low, high = min(lows), max(highs)
    strict_high = min(strict_highs)
    if consistent and max(lows) <= strict_high:
        estimate = (max(lows) + strict_high) / 2
    else:
        estimate = (low + high) / 2
    return ClockOffset(url, low, high, estimate, len(usable), date_lag, consistent, responses)


def measure_clock_offset(
    http: httpx.Client,
    url: str,
    samples: int = 8,
    *,
    date_lag: float = DEFAULT_DATE_LAG,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ClockOffset:
    """GET ``url`` ``samples`` times, 1/``samples`` s apart (so the requests fall on different
    phases of a second, about one second in all), and bound the target's clock offset."""
    taken: list[ClockSample] = []
    responses: list[httpx.Response] = []
    for index in range(samples):
        if index:
            sleep(1.0 / samples)
        t_send = clock()
        response = http.get(url)
        t_recv = clock()
        responses.append(response)
        taken.append(ClockSample(t_send, t_recv, parse_http_date(response)))
    return offset_from_samples(url, taken, date_lag=date_lag, responses=tuple(responses))


# --- CLOCK-02 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IatSkewProbes:
    """CLOCK-02: proofs with ordinary skew (must succeed) and far-off ``iat`` (must be refused)."""

    tolerated: tuple[Probe, ...]
    rejected: tuple[Probe, ...]


def probe_iat_skew(
    http: httpx.Client,
    endpoint: ProtectedEndpoint,
    *,
    tolerated_seconds: float = 5.0,
    rejected_seconds: float = 300.0,
) -> IatSkewProbes:
    caller = DpopCaller(http, endpoint)
    caller.prime()

    def skewed(offset: float) -> httpx.Response:
        return caller.send_built(lambda n: [caller.proof(n, iat=time.time() + offset)])

    def label(offset: float) -> str:
        return (
            f"a valid proof with iat {abs(offset):g} s in the {'future' if offset > 0 else 'past'}"
        )

    tolerated = tuple(Probe(label(o), skewed(o)) for o in (-tolerated_seconds, tolerated_seconds))
    rejected = tuple(Probe(label(o), skewed(o)) for o in (-rejected_seconds, rejected_seconds))
    return IatSkewProbes(tolerated, rejected)
