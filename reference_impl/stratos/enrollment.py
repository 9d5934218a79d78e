"""Who is enrolled, in which domains, and what enrolling creates (STR-ENR-*).

Enrolling creates, in this order: the user's P-256 repo key, their repository with a signed
empty commit, the enrollment row and a ``#enrollment`` event (one transaction), then tells the
hooks (which write the ``zone.stratos.actor.enrollment`` record to the user's PDS). The OAuth
routes decide *that* someone enrols; this module decides *what* that means.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..common.sqlite import Database
from ..primitives import dagcbor
from ..primitives.keys import SigningKey, generate_signing_key, load_signing_key, verify_signature
from .config import StratosConfig, qualify_domain
from .errors import enrollment_denied, not_enrolled, unknown_domain
from .events import EventLog
from .hooks import RecordChange, StratosHooks
from .records import STRATOS_NAMESPACE
from .repos import RepoService
from .store import DidLocks

ENROLLMENT_COLLECTION = "zone.stratos.actor.enrollment"

log = logging.getLogger("reference_impl.stratos.enrollment")


def now_iso() -> str:
    """An ATProto datetime: UTC, millisecond precision, ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def attestation_payload(did: str, boundaries: Iterable[str], signing_key: str) -> bytes:
    """What the service signs (STR-ENR-05): DAG-CBOR of {boundaries (sorted), did, signingKey}."""
    return dagcbor.encode({"boundaries": sorted(boundaries), "did": did, "signingKey": signing_key})


def verify_attestation(
    did: str, boundaries: Iterable[str], signing_key: str, sig: bytes, service_key: str
) -> bool:
    return verify_signature(service_key, attestation_payload(did, boundaries, signing_key), sig)


@dataclass(frozen=True)
class Enrollment:
    did: str
    handle: str | None
    boundaries: tuple[str, ...]  # qualified domains, sorted
    signing_key: SigningKey = field(repr=False)  # the user's repo key
    attestation_sig: bytes = field(repr=False)
    attestation_key: str  # the service key's did:key
    service_endpoint: str  # the service's public URL
    enrolled_at: str
    updated_at: str

    @property
    def signing_did_key(self) -> str:
        return self.signing_key.did_key

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(self.boundaries)

    def record_value(self) -> dict[str, Any]:
        """The ``zone.stratos.actor.enrollment`` record (JSON form) for the user's PDS, stored
        under rkey = the service DID."""
        return {
            "$type": ENROLLMENT_COLLECTION,
            "service": self.service_endpoint,
            "boundaries": [{"value": d} for d in self.boundaries],
            "signingKey": self.signing_did_key,
            "attestation": {
                "sig": dagcbor.ipld_to_json(self.attestation_sig),
                "signingKey": self.attestation_key,
            },
            "createdAt": self.enrolled_at,
        }


class EnrollmentService:
    def __init__(
        self,
        db: Database,
        config: StratosConfig,
        service_key: SigningKey,
        repos: RepoService,
        locks: DidLocks,
        hooks: StratosHooks,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.db = db
        self.config = config
        self.service_key = service_key
        self.repos = repos
        self.locks = locks
        self.hooks = hooks
        self._now = clock

    # -- questions ----------------------------------------------------------------------------

    def is_allowed(self, did: str) -> bool:
        return self.config.enrollment_mode == "open" or did in self.config.allowed_dids

    def qualify(self, names: Iterable[str]) -> tuple[str, ...]:
        """Bare or qualified names of this service's domains -> qualified, sorted, unique.

        An unknown name raises ``400 InvalidRequest`` (an XrpcError routes can let through).
        """
        out: set[str] = set()
        for name in names:
            qualified = qualify_domain(self.config.service_did, name.strip())
            if qualified is None or qualified not in self.config.domains:
                raise unknown_domain(name)
            out.add(qualified)
        return tuple(sorted(out))

    def get(self, did: str) -> Enrollment | None:
        row = self.db.query_one("SELECT * FROM enrollment WHERE did = ?", (did,))
        return self._from_row(row) if row is not None else None

    def did_for_handle(self, handle: str) -> str | None:
        row = self.db.query_one(
            "SELECT did FROM enrollment WHERE handle = ? COLLATE NOCASE", (handle,)
        )
        return row["did"] if row is not None else None

    def enrolled_dids(self) -> list[str]:
        return [r["did"] for r in self.db.query("SELECT did FROM enrollment ORDER BY did")]

    def domains_of(self, did: str | None) -> frozenset[str] | None:
        """The viewer's domains, or None when not enrolled (or anonymous)."""
        if did is None:
            return None
        row = self.db.query_one("SELECT boundaries FROM enrollment WHERE did = ?", (did,))
        return frozenset(json.loads(row["boundaries"])) if row is not None else None

    # -- changes ------------------------------------------------------------------------------

    def enroll(
        self, did: str, handle: str | None, boundaries: Sequence[str] | None = None
    ) -> Enrollment:
        """Enrol ``did`` (or update an existing enrolment's boundaries and attestation).

        ``boundaries`` are bare or qualified names; None or empty means
        ``STRATOS_AUTO_ENROLL_DOMAINS``. Raises ``403 EnrollmentDenied`` (reason
        NotInAllowlist) for a DID the service does not admit, ``400 InvalidRequest`` for an
        unknown domain.
        """
        if not self.is_allowed(did):
            raise enrollment_denied()
        domains = (
            self.qualify(boundaries)
            if boundaries
            else self.qualify(self.config.auto_enroll_domains)
        )
        with self.locks.hold(did):
            existing = self.get(did)
            now = self._now()
            if existing is not None:
                key = existing.signing_key
                enrolled_at = existing.enrolled_at
                handle = handle if handle is not None else existing.handle
            else:
                key = generate_signing_key("p256")
                enrolled_at = now
                if "no-empty-commit" in self.config.faults:
                    self.repos.delete_repo(did)  # nothing left from an earlier enrolment
                else:
                    self.repos.init_repo(did, key)
            sig = self.service_key.sign(attestation_payload(did, domains, key.did_key))
            with self.db.transaction() as conn:
                self._upsert(conn, did, handle, domains, key, sig, enrolled_at, now)
                EventLog.append_enrollment(conn, did, True, domains, now)
            enrollment = Enrollment(
                did=did,
                handle=handle,
                boundaries=domains,
                signing_key=key,
                attestation_sig=sig,
                attestation_key=self.service_key.did_key,
                service_endpoint=self.config.public_url,
                enrolled_at=enrolled_at,
                updated_at=now,
            )
        self.hooks.on_enrolled(enrollment)
        return enrollment

    def unenroll(self, did: str) -> None:
        """Delete the user's repository and enrolment; ``403 NotEnrolled`` if there is none."""
        with self.locks.hold(did):
            if self.get(did) is None:
                raise not_enrolled()
            deletes = [
                RecordChange("delete", e.collection, e.rkey, None, None)
                for e in self.repos.iter_all_entries(did)
                if e.collection.startswith(STRATOS_NAMESPACE)
            ]
            self.repos.delete_repo(did)
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM enrollment WHERE did = ?", (did,))
                EventLog.append_enrollment(conn, did, False, (), self._now())
        # The user is gone either way; a failing hook must not turn that into an error.
        try:
            if deletes:
                self.hooks.on_records_changed(did, deletes)
            self.hooks.on_unenrolled(did)
        except Exception:
            log.exception("unenrolment hooks failed for %s", did)

    # -- rows ---------------------------------------------------------------------------------

    @staticmethod
    def _upsert(
        conn: sqlite3.Connection,
        did: str,
        handle: str | None,
        domains: Sequence[str],
        key: SigningKey,
        sig: bytes,
        enrolled_at: str,
        now: str,
    ) -> None:
        conn.execute(
            "INSERT INTO enrollment (did, handle, boundaries, signing_key, attestation_sig,"
            " enrolled_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(did) DO UPDATE SET handle = excluded.handle,"
            " boundaries = excluded.boundaries, attestation_sig = excluded.attestation_sig,"
            " updated_at = excluded.updated_at",
            (did, handle, json.dumps(list(domains)), key.private_bytes(), sig, enrolled_at, now),
        )

    def _from_row(self, row: sqlite3.Row) -> Enrollment:
        return Enrollment(
            did=row["did"],
            handle=row["handle"],
            boundaries=tuple(json.loads(row["boundaries"])),
            signing_key=load_signing_key("p256", bytes(row["signing_key"])),
            attestation_sig=bytes(row["attestation_sig"]),
            attestation_key=self.service_key.did_key,
            service_endpoint=self.config.public_url,
            enrolled_at=row["enrolled_at"],
            updated_at=row["updated_at"],
        )
