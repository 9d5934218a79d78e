"""The boundary rule (STR-BND-*), as pure functions over values.

Read rule: viewer V may read record R of owner O when V = O, or V is enrolled and (R has no
boundary, or V's domains share one with R's). Write rule: a writer may only name this service's
domains it is enrolled in (ForbiddenBoundary) and never another service's (ServiceMismatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# A record's boundary: None when the record has none (readable by any enrolled viewer), else the
# set of qualified domains. A present but empty boundary is an empty set: nobody but the owner
# shares a domain with it, which fails closed rather than open.
RecordBoundary = frozenset[str] | None


class MalformedBoundary(ValueError):
    """A ``boundary`` field that is not ``{"values": [{"value": <string>}, ...]}``."""


def boundary_of(record: Mapping[str, Any]) -> RecordBoundary:
    """The boundary of a record value (JSON or IPLD form: both keep strings as strings)."""
    if "boundary" not in record:
        return None
    boundary = record["boundary"]
    if not isinstance(boundary, Mapping) or not isinstance(boundary.get("values"), list):
        raise MalformedBoundary("boundary must be an object with a 'values' array")
    domains: set[str] = set()
    for item in boundary["values"]:
        value = item.get("value") if isinstance(item, Mapping) else None
        if not isinstance(value, str):
            raise MalformedBoundary("each boundary value must be an object with a string 'value'")
        domains.add(value)
    return frozenset(domains)


def boundary_json(boundary: RecordBoundary) -> list[str] | None:
    """The boundary as a sorted list for storage (None stays None)."""
    return None if boundary is None else sorted(boundary)


def boundary_from_json(stored: Iterable[str] | None) -> RecordBoundary:
    return None if stored is None else frozenset(stored)


@dataclass(frozen=True)
class BoundaryPolicy:
    """Who may see what. ``viewer_domains`` is None when the viewer is not enrolled."""

    def can_view(
        self,
        viewer: str | None,
        owner: str,
        record_boundary: RecordBoundary,
        viewer_domains: frozenset[str] | None,
    ) -> bool:
        if viewer is not None and viewer == owner:
            return True
        if viewer is None or viewer_domains is None:
            return False
        if record_boundary is None:
            return True
        return not record_boundary.isdisjoint(viewer_domains)


BoundaryRefusal = Literal["ForbiddenBoundary", "ServiceMismatch"]


@dataclass(frozen=True)
class BoundaryViolation:
    reason: BoundaryRefusal
    domain: str

    @property
    def message(self) -> str:
        if self.reason == "ServiceMismatch":
            return f"Boundary domain {self.domain!r} belongs to another service"
        return f"You are not enrolled in the boundary domain {self.domain!r}"


def check_write_boundary(
    record_boundary: RecordBoundary, writer_domains: frozenset[str], service_did: str
) -> BoundaryViolation | None:
    """Why the writer may not put this boundary on a record, or None when it may.

    Another service's domain is reported before a missing enrollment: it can never be fixed by
    enrolling here. Domains are checked in sorted order so the answer is deterministic.
    """
    if not record_boundary:
        return None
    prefix = f"{service_did}/"
    ordered = sorted(record_boundary)
    for domain in ordered:
        if not domain.startswith(prefix):
            return BoundaryViolation("ServiceMismatch", domain)
    for domain in ordered:
        if domain not in writer_domains:
            return BoundaryViolation("ForbiddenBoundary", domain)
    return None
