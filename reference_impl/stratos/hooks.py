"""What the core service tells the outside world after it changed something.

The PDS sync (``pds_sync.py``: enrollment record and record stubs in users' PDSes) implements
``StratosHooks``; the core calls it after the change is durable. Calls come from worker threads,
so implementations must be thread-safe and quick (enqueue to a durable outbox, deliver later).
Delivery is **at least once**: after a crash, commits that were stored but not yet published
are published again on startup, so implementations must be idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from .enrollment import Enrollment

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class RecordChange:
    action: Action
    collection: str
    rkey: str
    cid: str | None  # the new record's CID; None for deletes
    record: dict[str, Any] | None  # JSON form ($link/$bytes); None for deletes

    def uri(self, did: str) -> str:
        return f"at://{did}/{self.collection}/{self.rkey}"


class StratosHooks(Protocol):
    def on_enrolled(self, enrollment: Enrollment) -> None:
        """A user enrolled, or re-enrolled with new boundaries (write the enrollment record).

        An exception propagates to whoever called ``enroll`` (the OAuth callback), after the
        enrolment itself is stored; enrolling again is safe.
        """

    def on_records_changed(self, did: str, changes: Sequence[RecordChange]) -> None:
        """A commit to ``did``'s repository is stored (write or delete the stubs).

        Only ``zone.stratos.*`` records are reported (an import may hold others). Also called
        with one delete per record just before ``on_unenrolled``.
        """

    def on_unenrolled(self, did: str) -> None:
        """The user left; their repository is gone (delete the enrollment record)."""


class NoHooks:
    """The default: nothing outside Stratos is told."""

    def on_enrolled(self, enrollment: Enrollment) -> None:
        return None

    def on_records_changed(self, did: str, changes: Sequence[RecordChange]) -> None:
        return None

    def on_unenrolled(self, did: str) -> None:
        return None
