"""Probes of a PDS's accounts, identity, sessions, service auth and repository (PDS-01..PDS-05):
they send, ``checks.pds`` judges.

Every probe takes its dependencies as arguments (a ``PdsClient``, URLs, a session, the account's
DID and handle). Probes never stop on a refusal: a write the PDS refuses is recorded and the
probes that depend on it are left out (``None``), so the check can say which step failed.
``Probe.case`` strings describe what was sent; they never contain a password or token.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.clients.pds import PdsClient, Session, write_create, write_delete, write_update
from conformance.scenarios.base import Probe, body_of, list_all

# A collection no PDS has a lexicon for: stored as-is (validationStatus "unknown").
UNKNOWN_COLLECTION = "com.example.atconform.record"
# A lexicon the reference PDS knows (it ships the Stratos lexicons); other PDSes may not.
KNOWN_COLLECTION = "zone.stratos.feed.post"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def random_tag() -> str:
    return secrets.token_hex(4)


def rkey_of(response: httpx.Response) -> str | None:
    """The record key of a write's ``uri`` (``at://did/collection/rkey``), if it succeeded."""
    body = body_of(response)
    uri = body.get("uri") if body is not None else None
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    parts = uri.removeprefix("at://").split("/")
    return parts[2] if len(parts) == 3 and parts[2] else None


def cid_of(response: httpx.Response) -> str | None:
    body = body_of(response)
    cid = body.get("cid") if body is not None else None
    return cid if isinstance(cid, str) else None


def sample_record(collection: str, label: str) -> dict[str, Any]:
    """A record of an unknown collection, with the shapes the data model allows (no floats)."""
    return {
        "$type": collection,
        "label": label,
        "count": 42,
        "flag": True,
        "nested": {"list": ["a", "b", {"deep": -7}], "empty": {}},
        "unicode": "zürich ✓",
        "createdAt": now_iso(),
    }


# --- PDS-01 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountCreation:
    """PDS-01: a fresh account, its DID document, and the same handle asked for again."""

    handle: str
    created: Probe
    did_document: Probe | None
    duplicate: Probe | None


def probe_account_creation(
    pds: PdsClient,
    plc_url: str,
    handle: str,
    password: str,
    *,
    invite_code: str | None = None,
    email: str | None = None,
) -> AccountCreation:
    created = pds.create_account(handle, password, invite_code=invite_code, email=email)
    body = body_of(created)
    did = body.get("did") if body is not None else None
    did_document: Probe | None = None
    duplicate: Probe | None = None
    if isinstance(did, str) and did.startswith("did:"):
        did_document = Probe(
            "GET <directory>/<did> of the new account", pds.resolve_did(plc_url, did)
        )
        second_email = None if email is None else f"other-{email}"
        duplicate = Probe(
            "createAccount again with the handle just taken",
            pds.create_account(
                handle,
                password + "-other",
                invite_code=invite_code,
                email=second_email,
            ),
        )
    return AccountCreation(
        handle,
        Probe("createAccount with a fresh handle", created),
        did_document,
        duplicate,
    )


def probe_did_document(pds: PdsClient, plc_url: str, did: str) -> Probe:
    """GET ``<directory>/<did>``."""
    return Probe("GET <directory>/<did>", pds.resolve_did(plc_url, did))


# --- PDS-02 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityProbes:
    """PDS-02: the DID document, both handle resolutions, and an unknown handle."""

    did: str
    handle: str
    did_document: Probe
    resolve_handle: Probe
    well_known: Probe
    unknown_handle: Probe


def unknown_handle_like(handle: str) -> str:
    """A handle under the same domain that nobody has."""
    domain = handle.split(".", 1)[1] if "." in handle else "test"
    return f"atconform-nobody-{secrets.token_hex(6)}.{domain}"


def probe_identity(
    pds: PdsClient, plc_url: str, pds_url: str, handle: str, did: str
) -> IdentityProbes:
    return IdentityProbes(
        did,
        handle,
        Probe("GET <directory>/<did>", pds.resolve_did(plc_url, did)),
        Probe("resolveHandle of the account's handle", pds.resolve_handle(handle)),
        Probe(
            "GET /.well-known/atproto-did with Host: <handle>",
            pds.well_known_atproto_did(pds_url, handle),
        ),
        Probe(
            "resolveHandle of a handle nobody has", pds.resolve_handle(unknown_handle_like(handle))
        ),
    )


# --- PDS-03 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionProbes:
    """PDS-03: logins by handle and by DID, a wrong password, getSession, and a refresh followed
    by the old refresh token again and a getSession with the new access token."""

    did: str
    handle: str
    by_handle: Probe
    by_did: Probe
    wrong_password: Probe
    get_session: Probe | None
    refresh: Probe | None
    refreshed_get_session: Probe | None
    old_refresh: Probe | None


def _session(response: httpx.Response) -> Session | None:
    body = body_of(response)
    if body is None:
        return None
    try:
        return Session.from_body(body)
    except ValueError:
        return None


def probe_sessions(pds: PdsClient, handle: str, did: str, password: str) -> SessionProbes:
    by_handle = pds.create_session(handle, password)
    by_did = pds.create_session(did, password)
    wrong = pds.create_session(handle, password + "-wrong")
    get_session = refresh = refreshed = old = None
    if (first := _session(by_handle)) is not None:
        get_session = Probe("getSession with the access token", pds.get_session(first))
    if (second := _session(by_did)) is not None:
        refresh = Probe("refreshSession with the refresh token", pds.refresh_session(second))
        if (renewed := _session(refresh.response)) is not None:
            refreshed = Probe(
                "getSession with the refreshed access token", pds.get_session(renewed)
            )
        old = Probe(
            "refreshSession with the refresh token that was just used",
            pds.refresh_session(second),
        )
    return SessionProbes(
        did,
        handle,
        Probe("createSession with the handle and password", by_handle),
        Probe("createSession with the DID and password", by_did),
        Probe("createSession with the handle and a wrong password", wrong),
        get_session,
        refresh,
        refreshed,
        old,
    )


@dataclass(frozen=True)
class AppPasswordProbes:
    """PDS-03: createAppPassword, a login with it, and getSession in that login."""

    did: str
    created: Probe
    login: Probe | None
    get_session: Probe | None
    name: str


def probe_app_password(
    pds: PdsClient, session: Session, handle: str, did: str, *, name: str | None = None
) -> AppPasswordProbes:
    """Creates an app password (removed again afterwards with revokeAppPassword)."""
    name = name or f"atconform-{random_tag()}"
    created = pds.create_app_password(session, name)
    body = body_of(created)
    app_password = body.get("password") if body is not None else None
    login = get_session = None
    if isinstance(app_password, str) and app_password:
        pds.redactor.add(app_password)
        login = Probe(
            "createSession with the handle and the app password",
            pds.create_session(handle, app_password),
        )
        if (app_session := _session(login.response)) is not None:
            get_session = Probe(
                "getSession in the app-password session", pds.get_session(app_session)
            )
        pds.procedure("com.atproto.server.revokeAppPassword", {"name": name}, auth=session)
    return AppPasswordProbes(
        did,
        Probe("createAppPassword in a password session", created),
        login,
        get_session,
        name,
    )


# --- PDS-04 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAuthProbes:
    """PDS-04: getServiceAuth with ``aud`` only and with ``aud`` + ``lxm``, and the user's DID
    document to verify the tokens with. ``requested_at`` is the harness clock at the request."""

    did: str
    aud: str
    lxm: str
    plain: Probe
    with_lxm: Probe
    did_document: Probe
    requested_at: float


def probe_service_auth(
    pds: PdsClient, plc_url: str, session: Session, did: str, aud: str, lxm: str
) -> ServiceAuthProbes:
    requested_at = time.time()
    plain = pds.get_service_auth(session, aud)
    with_lxm = pds.get_service_auth(session, aud, lxm=lxm)
    return ServiceAuthProbes(
        did,
        aud,
        lxm,
        Probe("getServiceAuth with aud", plain),
        Probe("getServiceAuth with aud and lxm", with_lxm),
        probe_did_document(pds, plc_url, did),
        requested_at,
    )


def token_of(probe: Probe) -> str | None:
    body = body_of(probe.response)
    token = body.get("token") if body is not None else None
    return token if isinstance(token, str) and token else None


# --- PDS-05 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCrud:
    """PDS-05: record writes and reads in one collection of one repo.

    ``created`` (server-assigned rkey) is read back, ``put_rkey`` is created then updated by
    putRecord, ``applied`` creates ``apply_rkey``, updates ``put_rkey`` and deletes the created
    record; ``removed`` is a createRecord + deleteRecord pair whose record is read afterwards.
    ``values`` are the record values sent, by rkey, for the records that should remain.
    """

    did: str
    collection: str
    created: Probe
    read_created: Probe | None
    put_rkey: str
    put_created: Probe
    put_updated: Probe
    apply_rkey: str
    applied: Probe | None
    removed_create: Probe
    removed_delete: Probe | None
    read_removed: Probe | None
    listed: tuple[Probe, ...]
    described: Probe
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    created_value: Mapping[str, Any] = field(default_factory=dict)
    gone: tuple[str, ...] = ()


def probe_record_crud(
    pds: PdsClient, session: Session, did: str, collection: str = UNKNOWN_COLLECTION
) -> RecordCrud:
    tag = random_tag()
    created_value = sample_record(collection, f"created-{tag}")
    created = pds.create_record(session, did, collection, created_value)
    created_rkey = rkey_of(created)
    read_created = (
        None
        if created_rkey is None
        else Probe("getRecord of the created record", pds.get_record(did, collection, created_rkey))
    )
    put_rkey = f"put-{tag}"
    put_v1 = sample_record(collection, f"put-v1-{tag}")
    put_v2 = sample_record(collection, f"put-v2-{tag}")
    put_v3 = sample_record(collection, f"put-v3-{tag}")
    put_created = pds.put_record(session, did, collection, put_rkey, put_v1)
    put_updated = pds.put_record(session, did, collection, put_rkey, put_v2)
    apply_rkey = f"apply-{tag}"
    apply_value = sample_record(collection, f"apply-{tag}")
    applied: Probe | None = None
    values: dict[str, Mapping[str, Any]] = {put_rkey: put_v2}
    gone: list[str] = []
    if created_rkey is not None:
        applied = Probe(
            "applyWrites: create one record, update the put record, delete the created one",
            pds.apply_writes(
                session,
                did,
                [
                    write_create(collection, apply_value, rkey=apply_rkey),
                    write_update(collection, put_rkey, put_v3),
                    write_delete(collection, created_rkey),
                ],
            ),
        )
        values = {put_rkey: put_v3, apply_rkey: apply_value}
        gone.append(created_rkey)
    removed_value = sample_record(collection, f"removed-{tag}")
    removed_create = pds.create_record(session, did, collection, removed_value)
    removed_rkey = rkey_of(removed_create)
    removed_delete = read_removed = None
    if removed_rkey is not None:
        removed_delete = Probe(
            "deleteRecord of a record just created",
            pds.delete_record(session, did, collection, removed_rkey),
        )
        read_removed = Probe(
            "getRecord of the deleted record", pds.get_record(did, collection, removed_rkey)
        )
        gone.append(removed_rkey)
    listed = list_all(
        lambda cursor: pds.list_records(did, collection, limit=100, cursor=cursor),
        "listRecords of the collection",
    )
    described = pds.describe_repo(did)
    return RecordCrud(
        did=did,
        collection=collection,
        created=Probe("createRecord (server-assigned rkey)", created),
        read_created=read_created,
        put_rkey=put_rkey,
        put_created=Probe("putRecord of a new rkey", put_created),
        put_updated=Probe("putRecord of the same rkey with a new value", put_updated),
        apply_rkey=apply_rkey,
        applied=applied,
        removed_create=Probe("createRecord (to delete)", removed_create),
        removed_delete=removed_delete,
        read_removed=read_removed,
        listed=listed,
        described=Probe("describeRepo", described),
        values=values,
        created_value=created_value,
        gone=tuple(gone),
    )


@dataclass(frozen=True)
class CommitSequence:
    """PDS-05: getLatestCommit before and after each of a few writes, and the writes."""

    did: str
    before: Probe
    writes: tuple[Probe, ...]
    after: tuple[Probe, ...]


def probe_commit_sequence(
    pds: PdsClient,
    session: Session,
    did: str,
    *,
    count: int = 3,
    collection: str = UNKNOWN_COLLECTION,
) -> CommitSequence:
    before = Probe("getLatestCommit before the writes", pds.sync_get_latest_commit(did))
    writes: list[Probe] = []
    after: list[Probe] = []
    for index in range(count):
        value = sample_record(collection, f"rev-{index}-{random_tag()}")
        writes.append(
            Probe(f"createRecord #{index + 1}", pds.create_record(session, did, collection, value))
        )
        after.append(
            Probe(f"getLatestCommit after write #{index + 1}", pds.sync_get_latest_commit(did))
        )
    return CommitSequence(did, before, tuple(writes), tuple(after))


@dataclass(frozen=True)
class RecordProofProbes:
    """PDS-05: a record written, its ``sync.getRecord`` proof CAR, and the DID document."""

    did: str
    collection: str
    rkey: str | None
    value: Mapping[str, Any]
    write: Probe
    proof: Probe | None
    did_document: Probe


def probe_record_proof(
    pds: PdsClient, plc_url: str, session: Session, did: str, collection: str = UNKNOWN_COLLECTION
) -> RecordProofProbes:
    value = sample_record(collection, f"proof-{random_tag()}")
    write = pds.create_record(session, did, collection, value)
    rkey = rkey_of(write)
    proof = (
        None
        if rkey is None
        else Probe("sync.getRecord of the record", pds.sync_get_record(did, collection, rkey))
    )
    return RecordProofProbes(
        did,
        collection,
        rkey,
        value,
        Probe("createRecord", write),
        proof,
        probe_did_document(pds, plc_url, did),
    )


@dataclass(frozen=True)
class RepoExportProbes:
    """PDS-05: records written with applyWrites, getLatestCommit, the full ``sync.getRepo`` CAR,
    and the DID document."""

    did: str
    collection: str
    write: Probe
    latest: Probe
    export: Probe
    did_document: Probe
    rkeys: tuple[str, ...]


def probe_repo_export(
    pds: PdsClient,
    plc_url: str,
    session: Session,
    did: str,
    *,
    count: int = 3,
    collection: str = UNKNOWN_COLLECTION,
) -> RepoExportProbes:
    tag = random_tag()
    rkeys = tuple(f"export-{tag}-{i}" for i in range(count))
    writes = [
        write_create(collection, sample_record(collection, f"export-{i}-{tag}"), rkey=rkey)
        for i, rkey in enumerate(rkeys)
    ]
    write = pds.apply_writes(session, did, writes)
    latest = pds.sync_get_latest_commit(did)
    export = pds.sync_get_repo(did)
    return RepoExportProbes(
        did,
        collection,
        Probe(f"applyWrites creating {count} records", write),
        Probe("getLatestCommit", latest),
        Probe("sync.getRepo (full export)", export),
        probe_did_document(pds, plc_url, did),
        rkeys,
    )


@dataclass(frozen=True)
class BlobProbes:
    """PDS-05: uploadBlob, a record referencing the blob, listBlobs and getBlob."""

    did: str
    data: bytes = field(repr=False)
    mime_type: str
    upload: Probe
    record: Probe | None
    listed: tuple[Probe, ...]
    fetched: Probe | None


def blob_ref(response: httpx.Response) -> dict[str, Any] | None:
    body = body_of(response)
    blob = body.get("blob") if body is not None else None
    return blob if isinstance(blob, dict) else None


def blob_cid(blob: Mapping[str, Any] | None) -> str | None:
    ref = blob.get("ref") if blob is not None else None
    link = ref.get("$link") if isinstance(ref, dict) else None
    return link if isinstance(link, str) else None


def probe_blobs(
    pds: PdsClient,
    session: Session,
    did: str,
    *,
    size: int = 4096,
    mime_type: str = "application/octet-stream",
    collection: str = UNKNOWN_COLLECTION,
) -> BlobProbes:
    data = b"atconform blob\n" + secrets.token_bytes(size)
    upload = pds.upload_blob(session, data, mime_type)
    blob = blob_ref(upload)
    cid = blob_cid(blob)
    record = fetched = None
    listed: tuple[Probe, ...] = ()
    if blob is not None and cid is not None:
        value = {**sample_record(collection, f"blob-{random_tag()}"), "file": blob}
        record = Probe(
            "createRecord referencing the blob", pds.create_record(session, did, collection, value)
        )
        listed = list_all(
            lambda cursor: pds.sync_list_blobs(did, limit=500, cursor=cursor),
            "sync.listBlobs of the repo",
        )
        fetched = Probe("sync.getBlob of the blob", pds.sync_get_blob(did, cid))
    return BlobProbes(did, data, mime_type, Probe("uploadBlob", upload), record, listed, fetched)


@dataclass(frozen=True)
class UnknownCollectionProbes:
    """PDS-05: a record in a collection without a lexicon, and the record read back."""

    value: Mapping[str, Any]
    write: Probe
    read: Probe | None


def probe_unknown_collection(
    pds: PdsClient, session: Session, did: str, collection: str = UNKNOWN_COLLECTION
) -> UnknownCollectionProbes:
    value = {
        **sample_record(collection, f"as-is-{random_tag()}"),
        "unusualField": {"anything": ["goes", 1, None, False]},
    }
    write = pds.create_record(session, did, collection, value)
    rkey = rkey_of(write)
    read = (
        None
        if rkey is None
        else Probe("getRecord of the record", pds.get_record(did, collection, rkey))
    )
    return UnknownCollectionProbes(
        value, Probe(f"createRecord in {collection} (no lexicon)", write), read
    )


@dataclass(frozen=True)
class LexiconValidationProbes:
    """PDS-05: a valid and a lexicon-invalid record of a collection whose lexicon the harness
    knows (``zone.stratos.feed.post``)."""

    collection: str
    valid: Probe
    invalid: Probe


def probe_lexicon_validation(
    pds: PdsClient, session: Session, did: str, collection: str = KNOWN_COLLECTION
) -> LexiconValidationProbes:
    valid = {"$type": collection, "text": "atconform lexicon probe", "createdAt": now_iso()}
    # Wrong type for text, and the required createdAt missing.
    invalid = {"$type": collection, "text": 12345}
    return LexiconValidationProbes(
        collection,
        Probe(
            f"createRecord of a valid {collection}",
            pds.create_record(session, did, collection, valid),
        ),
        Probe(
            f"createRecord of a {collection} with text an integer and no createdAt",
            pds.create_record(session, did, collection, invalid),
        ),
    )


def lexicon_known(probes: LexiconValidationProbes) -> bool | None:
    """Whether the PDS validated the valid record against its lexicon (``validationStatus``
    ``valid``), did not know the lexicon (``unknown``), or None when it did not say."""
    body = body_of(probes.valid.response)
    status = body.get("validationStatus") if body is not None else None
    if status == "valid":
        return True
    if status == "unknown":
        return False
    return None
