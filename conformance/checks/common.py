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
