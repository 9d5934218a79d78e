"""Who may write, and the order of the checks (STR-ENR-02, STR-REPO-02, STR-BND-06, STR-RL-*).

A write is refused, with nothing stored, when: the caller is not enrolled (403 NotEnrolled);
the repo is not the caller's (401 AuthRequired); a record is invalid or its boundary not the
caller's to use (400); the writes do not fit the caller's rate-limit window (429). Accepted
writes count against the window; a write that fails after being counted is given back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lexicons.syntax import is_valid_did

from ..common.errors import invalid_request
from .enrollment import Enrollment, EnrollmentService, now_iso
from .errors import not_enrolled, not_your_repo, rate_limited
from .publisher import Publisher
from .ratelimit import WriteRateLimiter
from .records import PreparedWrite, RecordPreparer, RecordWrite
from .repos import CommitOutcome, RepoService
from .store import DidLocks

T = TypeVar("T")

# Real PDSes cap applyWrites at 200 operations; so does the event stream's #commit message.
MAX_WRITES_PER_CALL = 200


class WriteService:
    def __init__(
        self,
        enrollments: EnrollmentService,
        repos: RepoService,
        preparer: RecordPreparer,
        limiter: WriteRateLimiter,
        publisher: Publisher,
        locks: DidLocks,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.enrollments = enrollments
        self.repos = repos
        self.preparer = preparer
        self.limiter = limiter
        self.publisher = publisher
        self.locks = locks
        self._now = clock

    def writer(self, caller: str, repo: str | None = None) -> Enrollment:
        """The caller's enrolment, after checking they write to their own repo."""
        enrollment = self.enrollments.get(caller)
        if enrollment is None:
            raise not_enrolled()
        if repo is not None:
            target = repo if is_valid_did(repo) else self.enrollments.did_for_handle(repo)
            if target != caller:
                raise not_your_repo()
        return enrollment

    def apply(
        self,
        caller: str,
        repo: str,
        writes: Sequence[RecordWrite],
        validate: bool | None,
        swap_commit: str | None,
    ) -> CommitOutcome:
        enrollment = self.writer(caller, repo)
        if not writes:
            raise invalid_request("No writes given")
        if len(writes) > MAX_WRITES_PER_CALL:
            raise invalid_request(f"At most {MAX_WRITES_PER_CALL} writes per call")
        prepared = [self.preparer.prepare(w, enrollment.domains, validate) for w in writes]
        return self._counted(
            caller, len(prepared), lambda: self._commit(caller, prepared, swap_commit)
        )

    def delete_if_present(
        self, caller: str, repo: str, write: RecordWrite, swap_commit: str | None
    ) -> CommitOutcome | None:
        """deleteRecord: deleting what is not there succeeds without a commit (as on PDSes);
        it still counts as a write."""
        enrollment = self.writer(caller, repo)
        prepared = self.preparer.prepare(write, enrollment.domains, None)

        def run() -> CommitOutcome | None:
            if self.repos.record_entry(caller, prepared.collection, prepared.rkey) is None:
                return None
            return self._commit(caller, [prepared], swap_commit)

        return self._counted(caller, 1, run)

    def import_repo(self, caller: str, car_bytes: bytes) -> int:
        """importRepo counts as one write however many records it holds (STR-RL-06)."""
        self.writer(caller)
        if not car_bytes:
            raise invalid_request("The request body must be a CAR file", "InvalidCar")

        def run() -> int:
            with self.locks.hold(caller):
                enrollment = self._still_enrolled(caller)
                self.publisher.publish_pending(caller)
                count, outcome = self.repos.import_car(
                    caller, enrollment.signing_key, car_bytes, self._now()
                )
                self.publisher.publish(caller, outcome.pending_id, outcome.publication)
            return count

        return self._counted(caller, 1, run)

    def upload_blob(self, caller: str, data: bytes, mime_type: str | None) -> dict[str, Any]:
        """Not counted against the write limit (docs/stratos.md), but only for enrolled users."""
        self.writer(caller)
        if not data:
            raise invalid_request("Blob body is empty")
        return self.repos.upload_blob(caller, data, mime_type, self._now())

    # -- internals ----------------------------------------------------------------------------

    def _counted(self, caller: str, count: int, run: Callable[[], T]) -> T:
        decision = self.limiter.acquire(caller, count)
        if not decision.allowed:
            raise rate_limited(decision.retry_after_s or 1)
        try:
            return run()
        except BaseException:
            self.limiter.release(caller, count)
            raise

    def _still_enrolled(self, caller: str) -> Enrollment:
        # Checked again under the DID's lock: an unenrolment may have happened meanwhile.
        enrollment = self.enrollments.get(caller)
        if enrollment is None:
            raise not_enrolled()
        return enrollment

    def _commit(
        self, caller: str, prepared: Sequence[PreparedWrite], swap_commit: str | None
    ) -> CommitOutcome:
        with self.locks.hold(caller):
            enrollment = self._still_enrolled(caller)
            self.publisher.publish_pending(caller)
            outcome = self.repos.commit(
                caller, enrollment.signing_key, prepared, swap_commit, self._now()
            )
            self.publisher.publish(caller, outcome.pending_id, outcome.publication)
        return outcome
