"""Probes of a Stratos service's enrollment, repository, verification, blobs and import
(STR-ENR-01..06, STR-REPO-01..03, STR-VER-01..03, STR-BLOB-01..02, STR-IMP-01): they send,
``checks.stratos_repo`` judges.

Every probe takes its dependencies as arguments: a ``StratosService`` (the service's XRPC
surface), callers (anything with a ``did`` and an ``auth()`` giving the DPoP auth of the
account's PDS-issued token), the PDS client, the enroller. Probes never stop on a refusal: a
write that is refused is recorded and the probes that depend on it are left out (``None``), so
the check can say which step failed. ``Probe.case`` strings describe what was sent and never
contain a token or a password.

Setup that must succeed for a probe to mean anything (leaving the spare account unenrolled
before re-enrolling it, exporting a repo from the PDS) raises ``StratosSetupError``: the
harness could not run the check, which is an *error*, not a *fail*.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cbrrr
import httpx
from cbrrr import CID

from conformance.clients.pds import PdsClient, Session, write_create, write_delete
from conformance.clients.stratos import EnrollmentAttempt, StratosEnroller, post_record, qualify
from conformance.clients.xrpc import ParamValue, XrpcClient, XrpcError
from conformance.redact import Redactor
from conformance.repo_verify import CarInvalid, read_car, verify_repo, write_car
from conformance.scenarios.base import Probe, body_of, is_success, list_all

POST = "zone.stratos.feed.post"
ENROLLMENT = "zone.stratos.actor.enrollment"
IMAGES_EMBED = "zone.stratos.embed.images"
CAR_TYPE = "application/vnd.ipld.car"
NOT_ENROLLED = "NotEnrolled"
# Collections outside zone.stratos.*: one a real PDS knows, one nobody has a lexicon for.
FOREIGN_COLLECTIONS = ("app.bsky.feed.post", "com.example.atconform.record")
# A 1x1 PNG; random bytes are appended after IEND so every upload is a new blob.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2b4d8d0"
    "0000000049454e44ae426082"
)
PAGE_LIMIT = 100
# How long the enrollment record may take to leave the PDS after unenroll.
UNENROLL_SETTLE_S = 5.0
IMPORT_RECORDS = 310
PDS_BATCH = 100

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


class StratosSetupError(RuntimeError):
    """A precondition of a probe could not be established (the harness cannot judge)."""


class Caller(Protocol):
    """An account the probes act as: its DID and the auth of its PDS-issued token."""

    @property
    def did(self) -> str: ...

    def auth(self) -> httpx.Auth: ...


class Enrollee(Caller, Protocol):
    """An account the probes can enrol through the OAuth flow."""

    @property
    def handle(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def boundaries(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class StratosService:
    """One Stratos service: its ``zone.stratos.*`` methods here, ``com.atproto.*`` (served with
    the same wire shapes as on a PDS) through ``repo``."""

    xrpc: XrpcClient
    repo: PdsClient

    @classmethod
    def of(cls, xrpc: XrpcClient, redactor: Redactor) -> StratosService:
        return cls(xrpc, PdsClient(xrpc, redactor))

    @property
    def url(self) -> str:
        return self.xrpc.base_url

    def status(self, did: str, *, auth: httpx.Auth | None = None) -> httpx.Response:
        return self.xrpc.query("zone.stratos.enrollment.status", {"did": did}, auth=auth)

    def unenroll(self, auth: httpx.Auth) -> httpx.Response:
        return self.xrpc.procedure("zone.stratos.enrollment.unenroll", {}, auth=auth)

    def get_repo(
        self, did: str, *, since: str | None = None, auth: httpx.Auth | None = None
    ) -> httpx.Response:
        params: dict[str, ParamValue] = {"did": did, "since": since}
        return self.xrpc.query("zone.stratos.sync.getRepo", params, auth=auth)

    def import_repo(self, car: bytes, auth: httpx.Auth) -> httpx.Response:
        return self.xrpc.procedure(
            "zone.stratos.repo.importRepo", data=car, content_type=CAR_TYPE, auth=auth
        )

    def well_known_did(self) -> httpx.Response:
        return self.xrpc.http.get(f"{self.url}/.well-known/did.json")


# --- small helpers ----------------------------------------------------------------------------


def xrpc_error_name(response: httpx.Response) -> str:
    return XrpcError.from_response(response).error


def new_tids(count: int) -> tuple[str, ...]:
    """``count`` distinct, increasing TIDs (record keys for ``tid``-keyed collections)."""
    micros = time.time_ns() // 1000
    clock_id = secrets.randbelow(1024)
    out: list[str] = []
    for index in range(count):
        value = ((micros + index) << 10) | clock_id
        out.append("".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13))))
    return tuple(out)


def random_plc_did() -> str:
    """A well-formed did:plc nobody has (24 base32 characters)."""
    return "did:plc:" + "".join(secrets.choice(_TID_ALPHABET) for _ in range(24))


def random_blob_cid() -> str:
    """The CID of a raw blob nobody uploaded."""
    return CID.cidv1_raw_sha256_32_from(secrets.token_bytes(32)).encode()


def tag() -> str:
    return secrets.token_hex(4)


def rkey_of(response: httpx.Response) -> str | None:
    """The record key of a write's ``uri`` (``at://did/collection/rkey``), if it succeeded."""
    body = body_of(response)
    uri = body.get("uri") if body is not None else None
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    parts = uri.removeprefix("at://").split("/")
    return parts[2] if len(parts) == 3 and parts[2] else None


def list_records(
    service: StratosService, caller: Caller, did: str, collection: str, case: str
) -> tuple[Probe, ...]:
    return list_all(
        lambda cursor: service.repo.list_records(
            did, collection, limit=PAGE_LIMIT, cursor=cursor, auth=caller.auth()
        ),
        case,
    )


def enrollment_record(pds: PdsClient, did: str, service_did: str) -> Probe:
    """The ``zone.stratos.actor.enrollment`` record (rkey = service DID) in the user's PDS."""
    return Probe(
        f"PDS getRecord {ENROLLMENT}/<service DID> of the user",
        pds.get_record(did, ENROLLMENT, service_did),
    )


def image_post(text: str, blob: Mapping[str, Any], boundary: Sequence[str] = ()) -> dict[str, Any]:
    """A post embedding ``blob`` as an image."""
    embed = {"$type": IMAGES_EMBED, "images": [{"image": dict(blob), "alt": "atconform"}]}
    return post_record(text, boundary, embed=embed)


def blob_ref(response: httpx.Response) -> dict[str, Any] | None:
    body = body_of(response)
    blob = body.get("blob") if body is not None else None
    return blob if isinstance(blob, dict) else None


def blob_cid(blob: Mapping[str, Any] | None) -> str | None:
    ref = blob.get("ref") if blob is not None else None
    link = ref.get("$link") if isinstance(ref, dict) else None
    return link if isinstance(link, str) else None


def png_bytes() -> bytes:
    return PNG_1X1 + secrets.token_bytes(64)


# --- enrolling and unenrolling (setup for the destructive probes) -----------------------------


def leave(service: StratosService, caller: Caller) -> Probe:
    """Unenroll ``caller``; answering ``NotEnrolled`` is fine (it was not enrolled)."""
    response = service.unenroll(caller.auth())
    if not is_success(response) and xrpc_error_name(response) != NOT_ENROLLED:
        raise StratosSetupError(
            f"cannot leave the account unenrolled first: unenroll answered "
            f"{response.status_code} {xrpc_error_name(response) or 'without an XRPC error'}"
        )
    return Probe("unenroll (before enrolling afresh)", response)


def enroll(enroller: StratosEnroller, stratos_url: str, enrollee: Enrollee) -> EnrollmentAttempt:
    return enroller.enroll(stratos_url, enrollee.handle, enrollee.password, enrollee.boundaries)


def enroll_afresh(
    service: StratosService, enroller: StratosEnroller, enrollee: Enrollee
) -> tuple[Probe, EnrollmentAttempt]:
    """Unenroll (if enrolled), then enrol through the OAuth flow: an empty repository."""
    left = leave(service, enrollee)
    return left, enroll(enroller, service.url, enrollee)


def require_enrolled(attempt: EnrollmentAttempt, what: str) -> None:
    if not attempt.enrolled:
        raise StratosSetupError(
            f"could not enrol {what}: the enrollment answered {attempt.final.status_code} "
            f"{xrpc_error_name(attempt.final) or ''}".rstrip()
        )


# --- STR-ENR-01 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusProbes:
    """STR-ENR-01: status of a DID that never enrolled (asked by nobody and by an enrolled
    caller), and of an enrolled DID asked by itself, by another DID and by nobody."""

    enrolled_did: str
    never_did: str
    never_anonymous: Probe
    never_authenticated: Probe
    own: Probe
    other: Probe
    anonymous: Probe
    expected_boundaries: frozenset[str] = frozenset()


def probe_status(
    service: StratosService,
    owner: Caller,
    other: Caller,
    *,
    never_did: str | None = None,
    expected_boundaries: frozenset[str] = frozenset(),
) -> StatusProbes:
    never = never_did or random_plc_did()
    return StatusProbes(
        owner.did,
        never,
        Probe("status of a DID that never enrolled, unauthenticated", service.status(never)),
        Probe(
            "status of a DID that never enrolled, asked by an enrolled account",
            service.status(never, auth=owner.auth()),
        ),
        Probe(
            "status of an enrolled DID, asked by that DID",
            service.status(owner.did, auth=owner.auth()),
        ),
        Probe(
            "status of an enrolled DID, asked by another enrolled DID",
            service.status(owner.did, auth=other.auth()),
        ),
        Probe("status of an enrolled DID, unauthenticated", service.status(owner.did)),
        expected_boundaries,
    )


# --- STR-ENR-02 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeniedProbes:
    """STR-ENR-02: the enrollment of a DID not on the allowlist, its status afterwards, the
    authenticated calls it makes, and one of those calls made by an enrolled account (control)."""

    did: str
    enrollment: Probe
    status_after: Probe
    calls: tuple[Probe, ...]
    control: Probe


def probe_denied(
    service: StratosService, enroller: StratosEnroller, denied: Enrollee, enrolled: Caller
) -> DeniedProbes:
    attempt = enroll(enroller, service.url, denied)
    did = denied.did
    (rkey,) = new_tids(1)
    post = post_record(f"atconform not enrolled {tag()}")
    calls = (
        Probe(
            "createRecord into its own repo",
            service.repo.create_record(denied.auth(), did, POST, post),
        ),
        Probe(
            "putRecord into its own repo",
            service.repo.put_record(denied.auth(), did, POST, rkey, post),
        ),
        Probe(
            "applyWrites into its own repo",
            service.repo.apply_writes(denied.auth(), did, [write_create(POST, post)]),
        ),
        Probe(
            "deleteRecord in its own repo",
            service.repo.delete_record(denied.auth(), did, POST, rkey),
        ),
        Probe("uploadBlob", service.repo.upload_blob(denied.auth(), png_bytes(), "image/png")),
        Probe(
            "listRecords of its own repo",
            service.repo.list_records(did, POST, auth=denied.auth()),
        ),
        Probe("describeRepo of its own repo", service.repo.describe_repo(did, auth=denied.auth())),
        Probe(
            "zone.stratos.sync.getRepo of its own repo", service.get_repo(did, auth=denied.auth())
        ),
        Probe("unenroll", service.unenroll(denied.auth())),
    )
    return DeniedProbes(
        did,
        Probe("enrollment of a DID not on the allowlist (the final answer)", attempt.final),
        Probe("status of the refused DID, unauthenticated", service.status(did)),
        calls,
        Probe(
            "describeRepo of its own repo by an enrolled account",
            service.repo.describe_repo(enrolled.did, auth=enrolled.auth()),
        ),
    )


# --- STR-ENR-03 / STR-ENR-04 ------------------------------------------------------------------


@dataclass(frozen=True)
class FreshEnrollment:
    """STR-ENR-03/04: an account unenrolled and enrolled afresh, then straight away its
    ``zone.stratos.sync.getRepo``, its enrollment record in the PDS (the repo key), its
    describeRepo and its listRecords."""

    did: str
    enrollment: Probe
    export: Probe | None
    enrollment_record: Probe | None
    described: Probe | None
    listed: Probe | None


def probe_fresh_enrollment(
    service: StratosService,
    enroller: StratosEnroller,
    pds: PdsClient,
    service_did: str,
    enrollee: Enrollee,
) -> FreshEnrollment:
    _left, attempt = enroll_afresh(service, enroller, enrollee)
    enrollment = Probe("enrollment after unenrolling (the final answer)", attempt.final)
    did = enrollee.did
    if not attempt.enrolled:
        return FreshEnrollment(did, enrollment, None, None, None, None)
    export = Probe(
        "zone.stratos.sync.getRepo straight after enrolling, as the user",
        service.get_repo(did, auth=enrollee.auth()),
    )
    return FreshEnrollment(
        did,
        enrollment,
        export,
        enrollment_record(pds, did, service_did),
        Probe(
            "describeRepo of the new repo, as the user",
            service.repo.describe_repo(did, auth=enrollee.auth()),
        ),
        Probe(
            f"listRecords {POST} of the new repo, as the user",
            service.repo.list_records(did, POST, auth=enrollee.auth()),
        ),
    )


# --- STR-ENR-05 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentRecordProbes:
    """STR-ENR-05: an enrolled user's enrollment record in their PDS and the service's DID
    document (``/.well-known/did.json``)."""

    did: str
    stratos_url: str
    service_did: str
    record: Probe
    service_document: Probe


def probe_enrollment_record(
    service: StratosService, pds: PdsClient, service_did: str, did: str
) -> EnrollmentRecordProbes:
    return EnrollmentRecordProbes(
        did,
        service.url,
        service_did,
        enrollment_record(pds, did, service_did),
        Probe("GET <stratos>/.well-known/did.json", service.well_known_did()),
    )


# --- STR-ENR-06 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnenrollProbes:
    """STR-ENR-06: a record written and read, unenroll, then status, the record read by its
    owner, the enrollment record in the PDS (polled a short while), and — after enrolling
    again — the record read once more (gone, not merely hidden)."""

    did: str
    write: Probe
    read_before: Probe | None
    unenroll: Probe
    status_after: Probe
    read_after: Probe | None
    enrollment_record_after: Probe
    reenrollment: Probe
    read_after_reenrollment: Probe | None


def _poll_until_gone(fetch: Callable[[], Probe], settle_s: float) -> Probe:
    deadline = time.monotonic() + settle_s
    while True:
        probe = fetch()
        if probe.response.status_code in (400, 404) or time.monotonic() >= deadline:
            return probe
        time.sleep(0.25)


def probe_unenroll(
    service: StratosService,
    enroller: StratosEnroller,
    pds: PdsClient,
    service_did: str,
    enrollee: Enrollee,
    *,
    settle_s: float = UNENROLL_SETTLE_S,
) -> UnenrollProbes:
    """Leaves ``enrollee`` enrolled again (with an empty repo) when it returns."""
    did = enrollee.did
    status = body_of(service.status(did)) or {}
    if status.get("enrolled") is not True:
        require_enrolled(enroll(enroller, service.url, enrollee), "the account to unenroll")
    write = service.repo.create_record(
        enrollee.auth(), did, POST, post_record(f"atconform before unenroll {tag()}")
    )
    rkey = rkey_of(write)

    def read(case: str) -> Probe | None:
        if rkey is None:
            return None
        return Probe(case, service.repo.get_record(did, POST, rkey, auth=enrollee.auth()))

    read_before = read("getRecord of the record, as its owner, before unenroll")
    unenrolled = service.unenroll(enrollee.auth())
    status_after = Probe("status of the user after unenroll, unauthenticated", service.status(did))
    read_after = read("getRecord of the record, as its owner, after unenroll")
    record_after = _poll_until_gone(
        lambda: enrollment_record(pds, did, service_did), settle_s if is_success(unenrolled) else 0
    )
    again = enroll(enroller, service.url, enrollee)
    require_enrolled(again, "the account again after unenroll")
    return UnenrollProbes(
        did,
        Probe(f"createRecord {POST} before unenroll", write),
        read_before,
        Probe("unenroll", unenrolled),
        status_after,
        read_after,
        Probe(f"{record_after.case}, after unenroll", record_after.response),
        Probe("enrollment again after unenroll (the final answer)", again.final),
        read("getRecord of the record, as its owner, after enrolling again"),
    )


# --- STR-REPO-01 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateProbes:
    """STR-REPO-01: createRecord of a post and the record read back by its owner."""

    did: str
    value: Mapping[str, Any]
    create: Probe
    read: Probe | None


def probe_create(
    service: StratosService, owner: Caller, boundary: Sequence[str] = ()
) -> CreateProbes:
    value = post_record(f"atconform create {tag()}", boundary, langs=["en"], tags=["atconform"])
    create = service.repo.create_record(owner.auth(), owner.did, POST, value)
    rkey = rkey_of(create)
    read = (
        None
        if rkey is None
        else Probe(
            "getRecord of the created record, as its owner",
            service.repo.get_record(owner.did, POST, rkey, auth=owner.auth()),
        )
    )
    return CreateProbes(owner.did, value, Probe(f"createRecord {POST}", create), read)


# --- STR-REPO-02 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignWrite:
    """One write that must be refused, and the read (by the repo's owner) showing whether it
    was stored anyway."""

    write: Probe
    read_back: Probe


@dataclass(frozen=True)
class ForeignWriteProbes:
    """STR-REPO-02: writes outside zone.stratos.* and into another DID's repo; a valid write
    (control)."""

    control: Probe
    writes: tuple[ForeignWrite, ...]


def probe_foreign_writes(
    service: StratosService, owner: Caller, other: Caller
) -> ForeignWriteProbes:
    control = Probe(
        f"createRecord {POST} into its own repo",
        service.repo.create_record(owner.auth(), owner.did, POST, post_record(f"control {tag()}")),
    )
    writes: list[ForeignWrite] = []
    rkeys = iter(new_tids(2 + len(FOREIGN_COLLECTIONS)))
    for collection in FOREIGN_COLLECTIONS:
        rkey = next(rkeys)
        value = {**post_record(f"atconform foreign {tag()}"), "$type": collection}
        writes.append(
            ForeignWrite(
                Probe(
                    f"createRecord {collection} (outside zone.stratos.*) into its own repo",
                    service.repo.create_record(
                        owner.auth(), owner.did, collection, value, rkey=rkey
                    ),
                ),
                Probe(
                    f"getRecord {collection}/<rkey> as the repo's owner",
                    service.repo.get_record(owner.did, collection, rkey, auth=owner.auth()),
                ),
            )
        )
    rkey = next(rkeys)
    writes.append(
        ForeignWrite(
            Probe(
                f"createRecord {POST} into another DID's repo",
                service.repo.create_record(
                    owner.auth(), other.did, POST, post_record(f"intrusion {tag()}"), rkey=rkey
                ),
            ),
            Probe(
                f"getRecord {POST}/<rkey> as the other DID (the repo's owner)",
                service.repo.get_record(other.did, POST, rkey, auth=other.auth()),
            ),
        )
    )
    rkey = next(rkeys)
    writes.append(
        ForeignWrite(
            Probe(
                f"applyWrites create {POST} into another DID's repo",
                service.repo.apply_writes(
                    owner.auth(),
                    other.did,
                    [write_create(POST, post_record(f"intrusion {tag()}"), rkey=rkey)],
                ),
            ),
            Probe(
                f"getRecord {POST}/<rkey> as the other DID (the repo's owner)",
                service.repo.get_record(other.did, POST, rkey, auth=other.auth()),
            ),
        )
    )
    return ForeignWriteProbes(control, tuple(writes))


# --- STR-REPO-03 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionListing:
    collection: str
    probe: Probe


@dataclass(frozen=True)
class CollectionsProbes:
    """STR-REPO-03: a post written, describeRepo, and listRecords (limit 1) of every collection
    describeRepo names."""

    did: str
    write: Probe
    described: Probe
    listings: tuple[CollectionListing, ...]


def probe_collections(service: StratosService, owner: Caller) -> CollectionsProbes:
    write = service.repo.create_record(
        owner.auth(), owner.did, POST, post_record(f"atconform collections {tag()}")
    )
    described = service.repo.describe_repo(owner.did, auth=owner.auth())
    collections = (body_of(described) or {}).get("collections")
    listings = tuple(
        CollectionListing(
            name,
            Probe(
                f"listRecords {name} (limit 1), as the owner",
                service.repo.list_records(owner.did, name, limit=1, auth=owner.auth()),
            ),
        )
        for name in (collections if isinstance(collections, list) else [])
        if isinstance(name, str)
    )
    return CollectionsProbes(
        owner.did,
        Probe(f"createRecord {POST}", write),
        Probe("describeRepo of its own repo", described),
        listings,
    )


@dataclass(frozen=True)
class DeleteProbes:
    """STR-REPO-03: a post created, deleted, then read and listed by its owner."""

    did: str
    rkey: str | None
    create: Probe
    delete: Probe | None
    read_after: Probe | None
    listed: tuple[Probe, ...]


def probe_delete(service: StratosService, owner: Caller) -> DeleteProbes:
    create = service.repo.create_record(
        owner.auth(), owner.did, POST, post_record(f"atconform delete {tag()}")
    )
    rkey = rkey_of(create)
    delete = read_after = None
    listed: tuple[Probe, ...] = ()
    if rkey is not None:
        delete = Probe(
            "deleteRecord of the post just created",
            service.repo.delete_record(owner.auth(), owner.did, POST, rkey),
        )
        read_after = Probe(
            "getRecord of the deleted post, as its owner",
            service.repo.get_record(owner.did, POST, rkey, auth=owner.auth()),
        )
        listed = list_records(service, owner, owner.did, POST, f"listRecords {POST}, as the owner")
    return DeleteProbes(
        owner.did, rkey, Probe(f"createRecord {POST}", create), delete, read_after, listed
    )


@dataclass(frozen=True)
class AtomicBatch:
    """One applyWrites batch with a single invalid op among valid creates, and a read of each
    valid create's rkey afterwards."""

    batch: Probe
    rkeys: tuple[str, ...]
    reads: tuple[Probe, ...]


@dataclass(frozen=True)
class AtomicityProbes:
    """STR-REPO-03: a valid applyWrites batch (control), batches with one invalid op, and a
    listing of the collection afterwards."""

    did: str
    control: Probe
    batches: tuple[AtomicBatch, ...]
    listed: tuple[Probe, ...]


def probe_atomicity(service: StratosService, owner: Caller) -> AtomicityProbes:
    did = owner.did
    control = Probe(
        f"applyWrites creating two {POST}",
        service.repo.apply_writes(
            owner.auth(),
            did,
            [write_create(POST, post_record(f"atomic control {i} {tag()}")) for i in range(2)],
        ),
    )
    foreign_domain = qualify("did:web:atconform-other-service.test", "elsewhere")
    invalid_ops: tuple[tuple[str, dict[str, Any]], ...] = (
        (
            f"a create in {FOREIGN_COLLECTIONS[1]} (outside zone.stratos.*)",
            write_create(
                FOREIGN_COLLECTIONS[1],
                {**post_record("atconform invalid"), "$type": FOREIGN_COLLECTIONS[1]},
            ),
        ),
        (
            "a post whose boundary names another service's domain",
            write_create(POST, post_record("atconform invalid", [foreign_domain])),
        ),
    )
    batches: list[AtomicBatch] = []
    for description, invalid in invalid_ops:
        before, after = new_tids(2)
        ops = [
            write_create(POST, post_record(f"atomic before {tag()}"), rkey=before),
            invalid,
            write_create(POST, post_record(f"atomic after {tag()}"), rkey=after),
        ]
        batch = Probe(
            f"applyWrites: a valid create, {description}, a valid create",
            service.repo.apply_writes(owner.auth(), did, ops),
        )
        reads = tuple(
            Probe(
                f"getRecord of the batch's {which} valid create ({description}), as the owner",
                service.repo.get_record(did, POST, rkey, auth=owner.auth()),
            )
            for which, rkey in (("first", before), ("last", after))
        )
        batches.append(AtomicBatch(batch, (before, after), reads))
    listed = list_records(service, owner, did, POST, f"listRecords {POST}, as the owner")
    return AtomicityProbes(did, control, tuple(batches), listed)


# --- STR-VER-01 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofProbes:
    """STR-VER-01: a post written, its ``com.atproto.sync.getRecord`` CAR (as the owner), and
    the enrollment record publishing the repo key."""

    did: str
    collection: str
    rkey: str | None
    value: Mapping[str, Any]
    write: Probe
    proof: Probe | None
    enrollment_record: Probe


def probe_record_proof(
    service: StratosService, pds: PdsClient, service_did: str, owner: Caller
) -> ProofProbes:
    value = post_record(f"atconform proof {tag()}")
    write = service.repo.create_record(owner.auth(), owner.did, POST, value)
    rkey = rkey_of(write)
    proof = (
        None
        if rkey is None
        else Probe(
            "com.atproto.sync.getRecord of the post, as its owner",
            service.repo.sync_get_record(owner.did, POST, rkey, auth=owner.auth()),
        )
    )
    return ProofProbes(
        owner.did,
        POST,
        rkey,
        value,
        Probe(f"createRecord {POST}", write),
        proof,
        enrollment_record(pds, owner.did, service_did),
    )


# --- STR-VER-02 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportProbes:
    """STR-VER-02: posts written in two rounds, the full ``zone.stratos.sync.getRepo`` and the
    export ``since`` the last commit of the first round, and the enrollment record."""

    did: str
    earlier: tuple[Probe, ...]
    later: tuple[Probe, ...]
    since_rev: str | None
    full: Probe
    since: Probe | None
    enrollment_record: Probe


def _commit_rev(response: httpx.Response) -> str | None:
    commit = (body_of(response) or {}).get("commit")
    rev = commit.get("rev") if isinstance(commit, dict) else None
    return rev if isinstance(rev, str) else None


def probe_export(
    service: StratosService,
    pds: PdsClient,
    service_did: str,
    owner: Caller,
    *,
    earlier_count: int = 3,
    later_count: int = 2,
) -> ExportProbes:
    did = owner.did

    def write(round_name: str, index: int) -> Probe:
        value = post_record(f"atconform export {round_name} {index} {tag()}")
        return Probe(
            f"createRecord {POST} ({round_name} round, #{index + 1})",
            service.repo.create_record(owner.auth(), did, POST, value),
        )

    earlier = tuple(write("first", i) for i in range(earlier_count))
    since_rev = _commit_rev(earlier[-1].response) if earlier else None
    later = tuple(write("second", i) for i in range(later_count))
    full = Probe(
        "zone.stratos.sync.getRepo (whole repo), as the owner",
        service.get_repo(did, auth=owner.auth()),
    )
    since = (
        None
        if since_rev is None
        else Probe(
            "zone.stratos.sync.getRepo since the first round's last commit, as the owner",
            service.get_repo(did, since=since_rev, auth=owner.auth()),
        )
    )
    return ExportProbes(
        did, earlier, later, since_rev, full, since, enrollment_record(pds, did, service_did)
    )


# --- STR-VER-03 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevStep:
    """One write; ``commit_required`` when its lexicon output requires ``commit``
    (createRecord), else its commit is judged only when it answers one."""

    probe: Probe
    commit_required: bool


@dataclass(frozen=True)
class RevSequence:
    """STR-VER-03: successive writes of several kinds, each answering its commit."""

    did: str
    steps: tuple[RevStep, ...]


def probe_rev_sequence(service: StratosService, owner: Caller) -> RevSequence:
    did = owner.did
    steps: list[RevStep] = []

    def create(label: str) -> httpx.Response:
        response = service.repo.create_record(
            owner.auth(), did, POST, post_record(f"rev {label} {tag()}")
        )
        steps.append(RevStep(Probe(f"createRecord {POST} #{label}", response), True))
        return response

    first = create("1")
    second = create("2")
    if (rkey := rkey_of(first)) is not None:
        value = post_record(f"rev 1b {tag()}")
        steps.append(
            RevStep(
                Probe(
                    "putRecord updating post #1",
                    service.repo.put_record(owner.auth(), did, POST, rkey, value),
                ),
                False,
            )
        )
    batch = [write_create(POST, post_record(f"rev 3 {tag()}"))]
    steps.append(
        RevStep(
            Probe(
                f"applyWrites creating a {POST}",
                service.repo.apply_writes(owner.auth(), did, batch),
            ),
            False,
        )
    )
    if (rkey := rkey_of(second)) is not None:
        steps.append(
            RevStep(
                Probe(
                    "deleteRecord of post #2",
                    service.repo.delete_record(owner.auth(), did, POST, rkey),
                ),
                False,
            )
        )
    create("4")
    return RevSequence(did, tuple(steps))


# --- STR-BLOB-01 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobListing:
    """STR-BLOB-01: two blobs uploaded and referenced from a post, then ``sync.listBlobs``
    of the repo followed page by page (limit 1, so the cursor is exercised)."""

    did: str
    uploads: tuple[Probe, ...]
    record: Probe | None
    cids: tuple[str, ...]
    pages: tuple[Probe, ...]


def probe_blob_listing(
    service: StratosService, owner: Caller, *, max_pages: int = 200
) -> BlobListing:
    did = owner.did
    uploads = tuple(
        Probe(
            f"uploadBlob (image/png #{i + 1})",
            service.repo.upload_blob(owner.auth(), png_bytes(), "image/png"),
        )
        for i in range(2)
    )
    blobs = [blob_ref(p.response) for p in uploads]
    cids = tuple(c for c in (blob_cid(b) for b in blobs) if c is not None)
    record: Probe | None = None
    pages: tuple[Probe, ...] = ()
    if all(b is not None for b in blobs) and len(cids) == len(uploads):
        images = [{"image": b, "alt": "atconform"} for b in blobs if b is not None]
        value = post_record(
            f"atconform blobs {tag()}", embed={"$type": IMAGES_EMBED, "images": images}
        )
        record = Probe(
            f"createRecord {POST} embedding both blobs",
            service.repo.create_record(owner.auth(), did, POST, value),
        )
        pages = list_all(
            lambda cursor: service.repo.sync_list_blobs(
                did, limit=1, cursor=cursor, auth=owner.auth()
            ),
            "sync.listBlobs of the repo (limit 1), as the owner",
            max_pages=max_pages,
        )
    return BlobListing(did, uploads, record, cids, pages)


# --- STR-BLOB-02 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobReads:
    """STR-BLOB-02: a blob referenced from a post bounded to the owner's and the peer's shared
    domain, fetched with ``sync.getBlob`` by the owner, the peer, an outsider and nobody, and a
    blob that does not exist fetched by the outsider (what "hidden" must look like)."""

    did: str
    data: bytes = field(repr=False)
    upload: Probe
    record: Probe | None
    owner: Probe | None
    peer: Probe | None
    outsider: Probe | None
    anonymous: Probe | None
    nonexistent: Probe | None


def probe_blob_reads(
    service: StratosService, owner: Caller, peer: Caller, outsider: Caller, boundary: Sequence[str]
) -> BlobReads:
    did = owner.did
    data = png_bytes()
    upload = service.repo.upload_blob(owner.auth(), data, "image/png")
    blob = blob_ref(upload)
    cid = blob_cid(blob)
    if blob is None or cid is None:
        return BlobReads(
            did, data, Probe("uploadBlob (image/png)", upload), None, None, None, None, None, None
        )
    record = service.repo.create_record(
        owner.auth(), did, POST, image_post(f"atconform blob {tag()}", blob, boundary)
    )

    def get(case: str, caller: Caller | None, blob_cid_: str = cid) -> Probe:
        auth = caller.auth() if caller is not None else None
        return Probe(case, service.repo.sync_get_blob(did, blob_cid_, auth=auth))

    return BlobReads(
        did,
        data,
        Probe("uploadBlob (image/png)", upload),
        Probe(f"createRecord {POST} embedding the blob, bounded to the shared domain", record),
        get("sync.getBlob as the owner", owner),
        get("sync.getBlob as a viewer sharing the domain", peer),
        get("sync.getBlob as a viewer sharing no domain", outsider),
        get("sync.getBlob unauthenticated", None),
        get(
            "sync.getBlob of a blob that does not exist, as the same viewer",
            outsider,
            random_blob_cid(),
        ),
    )


# --- STR-IMP-01 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusedImport:
    """An import that must be refused, and the repo described afterwards (nothing imported)."""

    attempt: Probe
    described: Probe
    listed: Probe


@dataclass(frozen=True)
class ImportProbes:
    """STR-IMP-01: records written to the user's PDS repo, that repo exported from the PDS,
    broken copies imported (must be refused, nothing imported), the export imported, and the
    records listed and read back from Stratos.

    ``car_records`` maps ``collection/rkey`` to the record CID, as the exported CAR holds them
    (verified by the harness)."""

    did: str
    pds_writes: tuple[Probe, ...]
    export: Probe
    car_records: Mapping[str, str]
    refused: tuple[RefusedImport, ...]
    imported: Probe
    listed: Mapping[str, tuple[Probe, ...]]
    reads: tuple[tuple[str, Probe], ...]


def tamper_record(car_bytes: bytes, record_cid: CID) -> bytes:
    """The CAR with the record block ``record_cid`` re-encoded with another text, its CID kept
    (a valid DAG-CBOR block whose bytes no longer match its CID)."""
    car = read_car(car_bytes)
    value = cbrrr.decode_dag_cbor(car.blocks[record_cid])
    if isinstance(value, dict):
        value = {**value, "text": f"{value.get('text')!s} (altered)"}
        altered = cbrrr.encode_dag_cbor(value)
    else:
        altered = car.blocks[record_cid] + b"\x00"
    blocks = [(cid, altered if cid == record_cid else data) for cid, data in car.blocks.items()]
    return write_car(car.roots, blocks)


def write_pds_posts(
    pds: PdsClient, session: Session, did: str, count: int, *, batch: int = PDS_BATCH
) -> tuple[tuple[Probe, ...], tuple[str, ...]]:
    """``count`` posts written to the user's PDS repo with applyWrites in batches; their probes
    and rkeys. A refused batch removes what was written and raises StratosSetupError."""
    rkeys = new_tids(count)
    probes: list[Probe] = []
    for start in range(0, count, batch):
        chunk = rkeys[start : start + batch]
        writes = [
            write_create(POST, post_record(f"atconform import {start + i} {tag()}"), rkey=rkey)
            for i, rkey in enumerate(chunk)
        ]
        response = pds.apply_writes(session, did, writes)
        probes.append(Probe(f"PDS applyWrites creating {len(chunk)} {POST}", response))
        if not is_success(response):
            delete_pds_posts(pds, session, did, rkeys[:start])
            raise StratosSetupError(
                f"cannot write posts to the user's PDS repo: applyWrites answered "
                f"{response.status_code} {xrpc_error_name(response)}".rstrip()
            )
    return tuple(probes), rkeys


def delete_pds_posts(pds: PdsClient, session: Session, did: str, rkeys: Sequence[str]) -> None:
    """Clean-up: remove the posts ``write_pds_posts`` made (best effort)."""
    for start in range(0, len(rkeys), PDS_BATCH):
        chunk = rkeys[start : start + PDS_BATCH]
        pds.apply_writes(session, did, [write_delete(POST, rkey) for rkey in chunk])


def _sample(keys: Sequence[str], count: int) -> tuple[str, ...]:
    """Up to ``count`` keys spread over ``keys`` (first and last included)."""
    if not keys or count <= 0:
        return ()
    if count == 1 or len(keys) == 1:
        return (keys[0],)
    picked = (keys[(i * (len(keys) - 1)) // (count - 1)] for i in range(count))
    return tuple(dict.fromkeys(picked))


def probe_import(
    service: StratosService,
    pds: PdsClient,
    enrollee: Enrollee,
    pds_writes: tuple[Probe, ...],
    pds_rkeys: Sequence[str],
    *,
    samples: int = 3,
) -> ImportProbes:
    """Expects ``enrollee`` enrolled with an empty Stratos repo and ``pds_rkeys`` posts just
    written to its PDS repo (``write_pds_posts``)."""
    did = enrollee.did
    exported = pds.sync_get_repo(did)
    export = Probe("PDS com.atproto.sync.getRepo of the user's repo", exported)
    if exported.status_code != 200:
        raise StratosSetupError(f"cannot export the user's PDS repo: {exported.status_code}")
    try:
        contents = verify_repo(exported.content, did, None)
    except (CarInvalid, KeyError, ValueError) as exc:
        raise StratosSetupError(f"the PDS export does not verify: {exc}") from exc
    car_records = {key: cid.encode() for key, cid in contents.records.items()}
    post_cid = (
        contents.records.get(f"{POST}/{pds_rkeys[len(pds_rkeys) // 2]}") if pds_rkeys else None
    )
    if post_cid is None:
        raise StratosSetupError("the PDS export lacks the posts just written to it")
    car = exported.content
    broken = (
        ("importRepo of bytes that are not a CAR", b"\x0a\xa1this is not a CAR at all"),
        ("importRepo of the export cut in half", car[: len(car) // 2]),
        (
            "importRepo of the export with one record block's bytes altered",
            tamper_record(car, post_cid),
        ),
    )
    refused = tuple(
        RefusedImport(
            Probe(case, service.import_repo(data, enrollee.auth())),
            Probe(
                "describeRepo after the refused import, as the user",
                service.repo.describe_repo(did, auth=enrollee.auth()),
            ),
            Probe(
                f"listRecords {POST} after the refused import, as the user",
                service.repo.list_records(did, POST, limit=1, auth=enrollee.auth()),
            ),
        )
        for case, data in broken
    )
    imported = Probe(
        f"importRepo of the PDS export ({len(car_records)} records)",
        service.import_repo(car, enrollee.auth()),
    )
    collections = sorted({key.split("/", 1)[0] for key in car_records})
    listed = {
        name: list_records(service, enrollee, did, name, f"listRecords {name} after the import")
        for name in collections
    }
    reads: list[tuple[str, Probe]] = []
    for key in _sample(sorted(car_records), samples):
        collection, rkey = key.split("/", 1)
        reads.append(
            (
                key,
                Probe(
                    "getRecord of an imported record, as the user",
                    service.repo.get_record(did, collection, rkey, auth=enrollee.auth()),
                ),
            )
        )
    return ImportProbes(
        did, pds_writes, export, car_records, refused, imported, listed, tuple(reads)
    )
