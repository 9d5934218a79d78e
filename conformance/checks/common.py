"""Pieces every check module shares."""

from __future__ import annotations

from collections.abc import Iterable

from conformance.checks.base import Failure
from conformance.scenarios.base import Probe, describe_response, is_success


def control_failure(requirement: str, control: Probe) -> Failure | None:
    """A Failure when the valid control request did not succeed (the negatives prove nothing)."""
    if is_success(control.response):
        return None
    return Failure(
        requirement,
        "a correct request was refused, so the rejections prove nothing",
        f"control request ({control.case}): expected 2xx, "
        f"got {describe_response(control.response)}",
        (control.response,),
    )


def refused(requirement: str, title: str, probe: Probe) -> Failure:
    return Failure(
        requirement,
        title,
        f"{probe.case}: expected 2xx, got {describe_response(probe.response)}",
        (probe.response,),
    )


def first_refused(requirement: str, probes: Iterable[Probe | None]) -> Failure | None:
    for probe in probes:
        if probe is not None and not is_success(probe.response):
            return refused(requirement, "a correct request was refused", probe)
    return None


CAR_TYPE = "application/vnd.ipld.car"


def car_response_problem(probe: Probe | None) -> str | None:
    """Why ``probe`` is not a 200 answer carrying a CAR, or None."""
    if probe is None:
        return "no CAR was fetched"
    if probe.response.status_code != 200:
        return f"{probe.case}: expected 200 with a CAR, got {describe_response(probe.response)}"
    if CAR_TYPE not in probe.response.headers.get("content-type", ""):
        return f"{probe.case}: content-type is not {CAR_TYPE}"
    return None


def car_error(exc: Exception) -> str:
    """A CAR verification failure in words."""
    if isinstance(exc, KeyError):  # a block the MST walk needed is not in the CAR
        return "an MST block the verification needs is missing from the CAR"
    return str(exc)
