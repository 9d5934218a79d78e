"""Reads under the boundary rule (STR-BND-01..05, STR-ENR-04, STR-BLOB-*, STR-VER-*).

Every single-record read answers a record the viewer may not see exactly like one that does not
exist: the same ``404 RecordNotFound`` error object, after the same work — the viewer's domains
and the record's index row are looked up in both cases, and the record itself is read only once
it is known to be visible (STR-BND-07). Lists leave hidden records out silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lexicons.syntax import is_valid_did

from ..common.errors import XrpcError, auth_required, invalid_request
from ..common.faults import Faults
from .enrollment import EnrollmentService
from .errors import forbidden_record, not_enrolled, record_not_found, repo_not_found
from .policy import BoundaryPolicy
from .repos import RecordEntry, RepoService, StoredBlob

UNKNOWN_HANDLE = "handle.invalid"


@dataclass(frozen=True)
class Viewer:
    """Who is reading: ``did`` None for anonymous, ``domains`` None when not enrolled."""

    did: str | None
    domains: frozenset[str] | None


@dataclass(frozen=True)
class RecordView:
    uri: str
    cid: str
    value: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "cid": self.cid, "value": self.value}


def parse_record_uri(uri: str) -> tuple[str, str, str] | None:
    """``at://<authority>/<collection>/<rkey>`` -> parts; None when the URI names no record."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


class ReadService:
    def __init__(
        self,
        enrollments: EnrollmentService,
        repos: RepoService,
        faults: Faults,
        policy: BoundaryPolicy | None = None,
    ) -> None:
        self.enrollments = enrollments
        self.repos = repos
        self.faults = faults
        self.policy = policy if policy is not None else BoundaryPolicy()

    # -- who and whose ------------------------------------------------------------------------

    def viewer(self, did: str | None) -> Viewer:
        return Viewer(did, self.enrollments.domains_of(did))

    def repo_did(self, ident: str) -> str | None:
        """A repo named by DID or handle -> the DID (handles of enrolled users only)."""
        if is_valid_did(ident):
            return ident
        return self.enrollments.did_for_handle(ident)

    @staticmethod
    def _require_enrolled_self(viewer: Viewer, owner: str | None) -> None:
        # One's own repo while not enrolled: say so (STR-ENR-02); it reveals nothing about others.
        if viewer.did is not None and viewer.did == owner and viewer.domains is None:
            raise not_enrolled()

    def can_view(self, viewer: Viewer, owner: str, entry: RecordEntry) -> bool:
        return self.policy.can_view(viewer.did, owner, entry.boundary, viewer.domains)

    # -- single records -----------------------------------------------------------------------

    def _visible_entry(
        self,
        viewer: Viewer,
        owner: str | None,
        collection: str,
        rkey: str,
        cid: str | None = None,
        enforce_boundary: bool = True,
    ) -> RecordEntry:
        self._require_enrolled_self(viewer, owner)
        entry = self.repos.record_entry(owner, collection, rkey) if owner is not None else None
        if entry is None or (cid is not None and entry.cid != cid):
            raise record_not_found()
        if enforce_boundary and owner is not None and not self.can_view(viewer, owner, entry):
            # The fault answers exactly what STR-BND-02 forbids: a signed-in viewer outside the
            # boundary told "forbidden". Anonymous callers keep the 404 (that is STR-BND-03).
            if "boundary-403" in self.faults and viewer.did is not None:
                raise forbidden_record()
            raise record_not_found()
        return entry

    def get_record(
        self, viewer: Viewer, repo: str, collection: str, rkey: str, cid: str | None = None
    ) -> RecordView:
        owner = self.repo_did(repo)
        entry = self._visible_entry(viewer, owner, collection, rkey, cid)
        assert owner is not None  # _visible_entry found a record in it
        value = self.repos.record_value(owner, entry.cid)
        if value is None:
            raise record_not_found()  # deleted between the two reads
        return RecordView(f"at://{owner}/{collection}/{rkey}", entry.cid, value)

    def hydrate_record(self, viewer: Viewer, uri: str, cid: str | None) -> RecordView:
        parts = parse_record_uri(uri)
        if parts is None:
            raise invalid_request("uri must name a record: at://<did>/<collection>/<rkey>")
        return self.get_record(viewer, *parts, cid=cid)

    def hydrate_records(
        self, viewer: Viewer, uris: Sequence[str]
    ) -> tuple[list[RecordView], list[str]]:
        """(visible records, notFound). Hidden records are in notFound, never "blocked"."""
        found: list[RecordView] = []
        missing: list[str] = []
        for uri in uris:
            parts = parse_record_uri(uri)
            try:
                if parts is None:
                    raise record_not_found()
                found.append(self.get_record(viewer, *parts))
            except XrpcError as exc:
                if exc.error not in ("RecordNotFound", "Forbidden", "NotEnrolled"):
                    raise
                missing.append(uri)
        return found, missing

    def sync_record_car(self, viewer: Viewer, did: str, collection: str, rkey: str) -> bytes:
        """The proof CAR of a record the viewer may see (STR-BND-05, STR-VER-01)."""
        enforce = "sync-getrecord-no-boundary" not in self.faults
        self._visible_entry(viewer, did, collection, rkey, enforce_boundary=enforce)
        car = self.repos.proof(did, collection, rkey)
        if car is None:
            raise record_not_found()
        return car

    def blob(self, viewer: Viewer, did: str, cid: str) -> StoredBlob:
        """A blob is visible when a record referencing it is (its owner always sees it)."""
        self._require_enrolled_self(viewer, did)
        blob, boundaries = self.repos.blob_with_boundaries(did, cid)
        if blob is None:
            raise record_not_found()
        visible = viewer.did == did or any(
            self.policy.can_view(viewer.did, did, b, viewer.domains) for b in boundaries
        )
        if not visible:
            raise record_not_found()
        return blob

    # -- lists and descriptions ---------------------------------------------------------------

    def list_records(
        self,
        viewer: Viewer,
        repo: str,
        collection: str,
        limit: int,
        cursor: str | None,
        reverse: bool,
    ) -> tuple[list[RecordView], str | None]:
        """``limit`` counts visible records; the cursor is the last returned rkey, and is only
        given when another visible record follows (STR-BND-04)."""
        owner = self.repo_did(repo)
        self._require_enrolled_self(viewer, owner)
        if owner is None:
            return [], None
        if viewer.did == owner and not self.repos.has_repo(owner):
            raise repo_not_found(owner)  # only under the no-empty-commit fault
        picked: list[RecordEntry] = []
        for entry in self.repos.iter_entries(owner, collection, cursor, reverse):
            if self.can_view(viewer, owner, entry):
                picked.append(entry)
                if len(picked) > limit:
                    break
        more = len(picked) > limit
        views: list[RecordView] = []
        for entry in picked[:limit]:
            value = self.repos.record_value(owner, entry.cid)
            if value is not None:
                views.append(
                    RecordView(f"at://{owner}/{collection}/{entry.rkey}", entry.cid, value)
                )
        return views, (picked[limit - 1].rkey if more else None)

    def describe_repo(self, viewer: Viewer, repo: str) -> dict[str, Any]:
        owner = self.repo_did(repo)
        self._require_enrolled_self(viewer, owner)
        enrollment = self.enrollments.get(owner) if owner is not None else None
        if owner is None or enrollment is None:
            raise XrpcError(404, "NotFound", "No such repository on this service")
        if not self.repos.has_repo(owner):
            raise repo_not_found(owner)  # only under the no-empty-commit fault
        if viewer.did == owner:
            collections = self.repos.collections(owner)
        else:
            # Other viewers learn only the collections holding something they may read.
            visible: set[str] = set()
            for entry in self.repos.iter_all_entries(owner):
                if entry.collection not in visible and self.can_view(viewer, owner, entry):
                    visible.add(entry.collection)
            collections = sorted(visible)
        handle = enrollment.handle or UNKNOWN_HANDLE
        return {
            "handle": handle,
            "did": owner,
            # Stratos is not the user's identity host: a minimal document naming the DID; the
            # authoritative one is at the user's DID directory.
            "didDoc": {
                "id": owner,
                **({"alsoKnownAs": [f"at://{handle}"]} if enrollment.handle else {}),
            },
            "collections": collections,
            "handleIsCorrect": enrollment.handle is not None,
        }

    def list_blobs(
        self, viewer: Viewer, did: str, since: str | None, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        if viewer.did is None:
            raise auth_required()
        self._require_enrolled_self(viewer, did)
        if viewer.did != did:
            raise XrpcError(403, "Forbidden", "Only the repository owner may list its blobs")
        return self.repos.list_blobs(did, since, limit, cursor)

    def export(self, viewer: Viewer, did: str, since: str | None, trusted_consumer: bool) -> bytes:
        """zone.stratos.sync.getRepo: for the owner, or a consumer holding the sync token."""
        self._require_enrolled_self(viewer, did)
        if viewer.did != did and not trusted_consumer:
            if viewer.did is None:
                raise auth_required()
            raise XrpcError(403, "Forbidden", "Only the repository owner may export it")
        if self.enrollments.get(did) is None:
            raise repo_not_found(did)
        car = self.repos.export(did, since)
        if car is None:
            raise repo_not_found(did)  # only under the no-empty-commit fault
        return car
