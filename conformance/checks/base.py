"""What a failed check is, kept apart from the check logic so reports render it directly."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Failure:
    """A target's violation of one requirement, as found by one check.

    ``responses`` are the exchanges that decided the verdict; reports render them redacted,
    so a Failure must never be serialised directly.
    """

    requirement: str
    title: str
    message: str
    responses: tuple[httpx.Response, ...] = ()


class CheckFailed(AssertionError):
    """Raised in a test when a check returned a Failure; the pytest plugin reads ``failure``."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"[{failure.requirement}] {failure.title}: {failure.message}")
        self.failure = failure


def require(failure: Failure | None) -> None:
    """Turn a check's verdict into a test outcome."""
    if failure is not None:
        raise CheckFailed(failure)
