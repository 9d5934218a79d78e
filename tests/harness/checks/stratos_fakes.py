"""Artifacts and a tiny fake Stratos for testing the STR-ENR/REPO/VER/BLOB/IMP checks.

Two kinds of wrong exchanges:

- artifacts built directly: repositories made with ``reference_impl.primitives`` (tests may use
  it to make artifacts; the harness never does) and then broken by hand — a first commit with
  ``prev`` set or records in it, a commit signed by another key, a record block whose bytes no
  longer match its CID; enrollment records whose attestation is signed by another key or over
  another payload;
- real HTTP from ``FakeStratos`` (Starlette, served with ``serve_in_thread``) and a fake PDS
  serving enrollment records, where ``faults`` breaks exactly one rule, so the scenarios run
  end to end and the matching check must notice.

Callers authenticate to the fakes with an ``X-Fake-Did`` header (``FakeCaller.auth()``).
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from atmst.blockstore import MemoryBlockStore
from cbrrr import CID
from pds_fakes import response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import serve_in_thread
from reference_impl.primitives import dagcbor, repo
from reference_impl.primitives.car import write_car
from reference_impl.primitives.commit import Commit
from reference_impl.primitives.keys import SigningKey, generate_signing_key
from reference_impl.primitives.tid import TidClock

STRATOS_URL = "http://127.0.0.1:3100"
PDS_URL = "http://127.0.0.1:2583"
SERVICE_DID = "did:web:stratos.localhost"
DID = "did:plc:abcdefghijklmnopqrstuvwx"
PEER_DID = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
OUTSIDER_DID = "did:plc:cccccccccccccccccccccccc"
DENIED_DID = "did:plc:dddddddddddddddddddddddd"
POST = "zone.stratos.feed.post"
ENROLLMENT = "zone.stratos.actor.enrollment"
CAR_TYPE = "application/vnd.ipld.car"
ENGINEERING = f"{SERVICE_DID}/engineering"
DESIGN = f"{SERVICE_DID}/design"


def stratos_response(
    status: int = 200, *, json_body: Any = None, content: bytes | None = None, nsid: str = "x"
) -> httpx.Response:
    content_type = CAR_TYPE if content is not None else None
    return response(
        status,
        json_body=json_body,
        content=content,
        content_type=content_type,
        url=f"{STRATOS_URL}/xrpc/{nsid}",
    )


def error(status: int, name: str, message: str = "refused", **extra: Any) -> httpx.Response:
    return stratos_response(status, json_body={"error": name, "message": message, **extra})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def post(text: str, boundary: Sequence[str] = ()) -> dict[str, Any]:
    value: dict[str, Any] = {"$type": POST, "text": text, "createdAt": "2026-11-20T12:00:00.000Z"}
    if boundary:
        value["boundary"] = {"values": [{"value": d} for d in boundary]}
    return value


# --- repositories ---------------------------------------------------------------------------


@dataclass
class FakeStratosRepo:
    """A user's Stratos repository in memory (P-256 repo key), for building CARs."""

    did: str = DID
    key: SigningKey = field(default_factory=lambda: generate_signing_key("p256"))
    store: MemoryBlockStore = field(default_factory=MemoryBlockStore)
    head: CID | None = None
    rev: str | None = None
    clock: TidClock = field(default_factory=TidClock)
    cids: dict[str, CID] = field(default_factory=dict)  # "collection/rkey" → record CID
    revs: dict[CID, str] = field(default_factory=dict)  # block → the rev that added it

    def _keep(self, result: repo.CommitResult) -> repo.CommitResult:
        for cid, block in result.new_blocks.items():
            self.store.put_block(bytes(cid), block)
            self.revs[cid] = result.rev
        self.head, self.rev = result.commit_cid, result.rev
        for (collection, rkey), cid in result.record_cids.items():
            self.cids[f"{collection}/{rkey}"] = cid
        return result

    def init(self) -> repo.CommitResult:
        """The signed empty commit enrollment makes."""
        return self._keep(repo.empty_commit(self.did, self.key, self.clock.next()))

    def write(
        self, records: Mapping[str, Mapping[str, Any]], collection: str = POST
    ) -> repo.CommitResult:
        ops = [
            repo.WriteOp("create", collection, rkey, dagcbor.json_to_ipld(dict(value)))
            for rkey, value in records.items()
        ]
        return self._keep(
            repo.apply_writes(self.store, self.did, self.key, self.head, ops, self.clock.next())
        )

    def export(self, since: str | None = None) -> bytes:
        assert self.head is not None
        return repo.export_car(self.store, self.head, since, self.revs.get)

    def proof(self, rkey: str, collection: str = POST) -> bytes:
        assert self.head is not None
        return repo.record_proof_car(self.store, self.head, collection, rkey)

    def cid(self, rkey: str, collection: str = POST) -> str:
        return self.cids[f"{collection}/{rkey}"].encode()


def commit_car(
    did: str,
    key: SigningKey,
    data: CID,
    rev: str,
    *,
    prev: CID | None = None,
    extra_blocks: Mapping[CID, bytes] | None = None,
) -> bytes:
    """A CAR rooted at a hand-made commit (e.g. a "first" commit with ``prev`` set)."""
    unsigned = {"did": did, "version": 3, "data": data, "rev": rev, "prev": prev}
    commit = Commit(did, 3, data, rev, prev, key.sign(dagcbor.encode(unsigned)))
    block = commit.encode()
    cid = dagcbor.cid_for_cbor(block)
    return write_car(cid, [(cid, block), *(extra_blocks or {}).items()])


# --- enrollment records and the service document ----------------------------------------------


def service_document(key: SigningKey, did: str = SERVICE_DID) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.multikey,
            }
        ],
        "service": [{"id": "#stratos", "type": "StratosService", "serviceEndpoint": STRATOS_URL}],
    }


def enrollment_value(
    did: str,
    repo_key: SigningKey,
    service_key: SigningKey,
    boundaries: Sequence[str] = (ENGINEERING,),
    *,
    service: str = STRATOS_URL,
    signed_by: SigningKey | None = None,
    signed_did: str | None = None,
    sort: bool = True,
) -> dict[str, Any]:
    """An enrollment record; ``signed_by``/``signed_did``/``sort`` make a wrong attestation."""
    domains = sorted(boundaries) if sort else list(boundaries)
    payload = {"boundaries": domains, "did": signed_did or did, "signingKey": repo_key.did_key}
    sig = (signed_by or service_key).sign(dagcbor.encode(payload))
    return {
        "$type": ENROLLMENT,
        "service": service,
        "boundaries": [{"value": d} for d in boundaries],
        "signingKey": repo_key.did_key,
        "attestation": {"sig": {"$bytes": b64(sig)}, "signingKey": service_key.did_key},
        "createdAt": "2026-11-20T12:00:00.000Z",
    }


def record_response(did: str, value: Mapping[str, Any] | None) -> httpx.Response:
    """A PDS getRecord answer for the enrollment record (or the PDS's not-found error)."""
    url = f"{PDS_URL}/xrpc/com.atproto.repo.getRecord"
    if value is None:
        return response(
            400,
            json_body={"error": "RecordNotFound", "message": "Could not locate record"},
            url=url,
        )
    body = {"uri": f"at://{did}/{ENROLLMENT}/{SERVICE_DID}", "cid": "bafyfake", "value": value}
    return response(200, json_body=body, url=url)


# --- callers ----------------------------------------------------------------------------------


class HeaderAuth(httpx.Auth):
    def __init__(self, did: str) -> None:
        self.did = did

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Fake-Did"] = self.did
        yield request


@dataclass(frozen=True)
class FakeCaller:
    did: str
    handle: str = ""
    password: str = field(default="pw", repr=False)
    boundaries: tuple[str, ...] = ()

    def auth(self) -> httpx.Auth:
        return HeaderAuth(self.did)


OWNER = FakeCaller(DID, "owner.test", boundaries=("engineering",))
PEER = FakeCaller(PEER_DID, "peer.test", boundaries=("engineering",))
OUTSIDER = FakeCaller(OUTSIDER_DID, "outsider.test", boundaries=("design",))
DENIED = FakeCaller(DENIED_DID, "denied.test", boundaries=("engineering",))


# --- the fake Stratos (real HTTP) -------------------------------------------------------------

FAULTS = frozenset(
    {
        "status-404-unknown",  # STR-ENR-01: a never-enrolled DID answers 404
        "leak-boundaries",  # STR-ENR-01: boundaries shown to anyone
        "enroll-denied-200",  # STR-ENR-02: a DID outside the allowlist is enrolled
        "denied-calls-401",  # STR-ENR-02: a not-enrolled caller gets 401 AuthRequired
        "no-empty-commit",  # STR-ENR-03/04: enrolling creates no repository
        "commit-other-key",  # STR-ENR-03: the first commit is signed with another key
        "accept-foreign",  # STR-REPO-02: writes outside zone.stratos.* / other repos stored
        "foreign-500",  # STR-REPO-02: writes outside zone.stratos.* answer 500
        "unenroll-keeps-records",  # STR-ENR-06: records survive unenroll
        "unenroll-keeps-pds-record",  # STR-ENR-06: the enrollment record stays in the PDS
    }
)


def _fake_cid(value: Any) -> str:
    block = dagcbor.encode(dagcbor.json_to_ipld(value))
    return dagcbor.cid_for_cbor(block).encode()


@dataclass
class FakeWorld:
    """What the fake Stratos and the fake PDS know; mutable, for the tests only."""

    faults: frozenset[str] = frozenset()
    service_key: SigningKey = field(default_factory=lambda: generate_signing_key("p256"))
    allowed: frozenset[str] = frozenset({DID, PEER_DID, OUTSIDER_DID})
    handles: dict[str, FakeCaller] = field(default_factory=dict)
    repos: dict[str, FakeStratosRepo] = field(default_factory=dict)
    boundaries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    records: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    pds_records: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    stratos_url: str = STRATOS_URL

    def __post_init__(self) -> None:
        unknown = self.faults - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        for caller in (OWNER, PEER, OUTSIDER, DENIED):
            self.handles[caller.handle] = caller

    def enroll(self, caller: FakeCaller) -> None:
        fake = FakeStratosRepo(did=caller.did)
        fake.init()
        published = fake.key
        if "commit-other-key" in self.faults:
            published = generate_signing_key("p256")
        if "no-empty-commit" not in self.faults:
            self.repos[caller.did] = fake
        domains = tuple(f"{SERVICE_DID}/{b}" for b in caller.boundaries)
        self.boundaries[caller.did] = domains
        self.pds_records[(caller.did, ENROLLMENT, SERVICE_DID)] = enrollment_value(
            caller.did, published, self.service_key, domains, service=self.stratos_url
        )

    def unenroll(self, did: str) -> None:
        self.repos.pop(did, None)
        self.boundaries.pop(did, None)
        if "unenroll-keeps-pds-record" not in self.faults:
            self.pds_records.pop((did, ENROLLMENT, SERVICE_DID), None)
        if "unenroll-keeps-records" not in self.faults:
            for key in [k for k in self.records if k[0] == did]:
                del self.records[key]


def _err(status: int, name: str, message: str = "refused", **extra: Any) -> JSONResponse:
    return JSONResponse({"error": name, "message": message, **extra}, status_code=status)


def build_fake_stratos(world: FakeWorld) -> Starlette:
    faults = world.faults

    def caller_of(request: Request) -> str | None:
        return request.headers.get("x-fake-did")

    def enrolled(did: str | None) -> bool:
        return did is not None and did in world.boundaries

    async def authorize(request: Request) -> Response:
        caller = world.handles.get(request.query_params.get("handle", ""))
        if caller is None:
            return _err(400, "InvalidRequest", "unknown handle")
        if caller.did not in world.allowed and "enroll-denied-200" not in faults:
            return _err(403, "EnrollmentDenied", "not allowed", reason="NotInAllowlist")
        world.enroll(caller)
        return JSONResponse({"did": caller.did, "handle": caller.handle, "enrolled": True})

    async def status(request: Request) -> Response:
        did = request.query_params.get("did", "")
        if not enrolled(did):
            if "status-404-unknown" in faults:
                return _err(404, "NotFound", "unknown DID")
            return JSONResponse({"did": did, "enrolled": False})
        body: dict[str, Any] = {
            "did": did,
            "enrolled": True,
            "enrolledAt": "2026-11-20T12:00:00.000Z",
        }
        if caller_of(request) == did or "leak-boundaries" in faults:
            body["boundaries"] = [{"value": d} for d in world.boundaries[did]]
        return JSONResponse(body)

    def not_enrolled() -> JSONResponse:
        if "denied-calls-401" in faults:
            return _err(401, "AuthRequired", "who are you")
        return _err(403, "NotEnrolled", "not enrolled")

    async def unenroll(request: Request) -> Response:
        did = caller_of(request)
        if not enrolled(did):
            return not_enrolled()
        assert did is not None
        world.unenroll(did)
        return JSONResponse({"success": True})

    async def write(request: Request) -> Response:
        did = caller_of(request)
        if not enrolled(did):
            return not_enrolled()
        body = await request.json()
        nsid = request.path_params["nsid"]
        ops: list[tuple[str, str, dict[str, Any]]] = []
        if nsid == "com.atproto.repo.applyWrites":
            for w in body.get("writes", []):
                ops.append((w["collection"], w.get("rkey") or "3kfake", w.get("value", {})))
        else:
            ops.append((body["collection"], body.get("rkey") or "3kfakeaaaaaa2", body["record"]))
        accept = "accept-foreign" in faults
        if body.get("repo") != did and not accept:
            return _err(401, "AuthRequired", "not your repo")
        for collection, _rkey, _value in ops:
            if not collection.startswith("zone.stratos."):
                if "foreign-500" in faults:
                    return _err(500, "InternalServerError", "oops")
                if not accept:
                    return _err(400, "InvalidRequest", "collection outside zone.stratos.*")
        for collection, rkey, value in ops:
            world.records[(body["repo"], collection, rkey)] = value
        collection, rkey, value = ops[-1]
        return JSONResponse(
            {
                "uri": f"at://{body['repo']}/{collection}/{rkey}",
                "cid": _fake_cid(value),
                "commit": {"cid": _fake_cid({"c": rkey}), "rev": "3kfakeaaaaaa2"},
            }
        )

    async def get_record(request: Request) -> Response:
        q = request.query_params
        value = world.records.get((q.get("repo", ""), q.get("collection", ""), q.get("rkey", "")))
        if value is None:
            return _err(404, "RecordNotFound", "Record not found")
        uri = f"at://{q.get('repo')}/{q.get('collection')}/{q.get('rkey')}"
        return JSONResponse({"uri": uri, "cid": _fake_cid(value), "value": value})

    async def describe_repo(request: Request) -> Response:
        did = request.query_params.get("repo", "")
        if did not in world.repos:
            if enrolled(did):
                return _err(400, "RepoNotFound", "no repo")
            return not_enrolled()
        collections = sorted({c for (d, c, _r) in world.records if d == did})
        return JSONResponse({"did": did, "handle": "x.test", "collections": collections})

    async def list_records(request: Request) -> Response:
        did = request.query_params.get("repo", "")
        collection = request.query_params.get("collection", "")
        if did not in world.repos:
            if enrolled(did):
                return _err(400, "RepoNotFound", "no repo")
            return not_enrolled()
        records = [
            {"uri": f"at://{d}/{c}/{r}", "cid": _fake_cid(v), "value": v}
            for (d, c, r), v in world.records.items()
            if d == did and c == collection
        ]
        return JSONResponse({"records": records})

    async def get_repo(request: Request) -> Response:
        did = request.query_params.get("did", "")
        fake = world.repos.get(did)
        if fake is None:
            if not enrolled(caller_of(request)):
                return not_enrolled()
            return _err(404, "RepoNotFound", "no repo")
        return Response(fake.export(), media_type=CAR_TYPE)

    async def not_enrolled_call(request: Request) -> Response:
        if not enrolled(caller_of(request)):
            return not_enrolled()
        return _err(501, "MethodNotImplemented", "not in the fake")

    async def did_json(request: Request) -> Response:
        return JSONResponse(service_document(world.service_key))

    handlers = {
        "zone.stratos.enrollment.status": status,
        "zone.stratos.enrollment.unenroll": unenroll,
        "com.atproto.repo.createRecord": write,
        "com.atproto.repo.putRecord": write,
        "com.atproto.repo.applyWrites": write,
        "com.atproto.repo.getRecord": get_record,
        "com.atproto.repo.describeRepo": describe_repo,
        "com.atproto.repo.listRecords": list_records,
        "zone.stratos.sync.getRepo": get_repo,
    }

    async def xrpc(request: Request) -> Response:
        handler = handlers.get(request.path_params["nsid"], not_enrolled_call)
        return await handler(request)

    return Starlette(
        routes=[
            Route("/oauth/authorize", authorize),
            Route("/.well-known/did.json", did_json),
            Route("/xrpc/{nsid}", xrpc, methods=["GET", "POST"]),
        ]
    )


def build_fake_pds(world: FakeWorld) -> Starlette:
    """Serves the users' enrollment records (``com.atproto.repo.getRecord``)."""

    async def get_record(request: Request) -> Response:
        q = request.query_params
        key = (q.get("repo", ""), q.get("collection", ""), q.get("rkey", ""))
        value = world.pds_records.get(key)
        if value is None:
            return _err(400, "RecordNotFound", "Could not locate record")
        uri = f"at://{key[0]}/{key[1]}/{key[2]}"
        return JSONResponse({"uri": uri, "cid": _fake_cid(value), "value": value})

    return Starlette(routes=[Route("/xrpc/com.atproto.repo.getRecord", get_record)])


@dataclass(frozen=True)
class Running:
    world: FakeWorld
    stratos_url: str
    pds_url: str


@contextmanager
def running_fakes(*faults: str, enrolled: Sequence[FakeCaller] = ()) -> Iterator[Running]:
    world = FakeWorld(frozenset(faults))
    with (
        serve_in_thread(build_fake_stratos(world)) as stratos_url,
        serve_in_thread(build_fake_pds(world)) as pds_url,
    ):
        world.stratos_url = stratos_url
        for caller in enrolled:
            world.enroll(caller)
        yield Running(world, stratos_url, pds_url)
