"""Artifacts for testing the PDS-01..PDS-05 checks: HTTP exchanges built directly (an
``httpx.Response`` with its request), DID documents, service-auth JWTs, and repository CARs.

Repositories are built with ``reference_impl.primitives`` (tests may use it to make artifacts;
the harness never does), then broken by hand: a record block whose bytes no longer match its CID,
a commit signed by a key the DID document does not publish, a proof missing its MST path.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from atmst.blockstore import MemoryBlockStore
from cbrrr import CID

from reference_impl.primitives import dagcbor, repo
from reference_impl.primitives.car import read_car, write_car
from reference_impl.primitives.keys import SigningKey, generate_signing_key
from reference_impl.primitives.tid import TidClock

PDS_URL = "http://127.0.0.1:2583"
DID = "did:plc:abcdefghijklmnopqrstuvwx"
OTHER_DID = "did:plc:zyxwvutsrqponmlkjihgfedc"
HANDLE = "alice.test"
COLLECTION = "com.example.atconform.record"
CAR_TYPE = "application/vnd.ipld.car"


def response(
    status: int = 200,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    text: str | None = None,
    content_type: str | None = None,
    method: str = "GET",
    url: str = f"{PDS_URL}/xrpc/com.example.probe",
) -> httpx.Response:
    """A response as a probe would have received it (with its request)."""
    request = httpx.Request(method, url)
    headers = {"content-type": content_type} if content_type else None
    if json_body is not None:
        return httpx.Response(status, json=json_body, request=request, headers=headers)
    if text is not None:
        return httpx.Response(status, text=text, request=request, headers=headers)
    return httpx.Response(status, content=content or b"", request=request, headers=headers)


def xrpc_error(status: int, error: str, message: str = "refused") -> httpx.Response:
    return response(status, json_body={"error": error, "message": message})


def did_document(
    did: str = DID,
    handle: str = HANDLE,
    key: SigningKey | None = None,
    *,
    multikey: str | None = None,
    pds_url: str = PDS_URL,
) -> dict[str, Any]:
    public = multikey if multikey is not None else (key.multikey if key else "")
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": public,
            }
        ],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds_url}
        ],
    }


def did_doc_response(document: Mapping[str, Any]) -> httpx.Response:
    return response(200, json_body=dict(document), url=f"{PDS_URL}/{document.get('id')}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_jwt(
    key: SigningKey,
    *,
    iss: str = DID,
    aud: str = "did:web:svc.test",
    lifetime_s: int = 60,
    lxm: str | None = None,
    alg: str | None = None,
    iat: int | None = None,
) -> str:
    """A service-auth JWT as a PDS issues it (JOSE r||s signature by ``key``)."""
    now = int(time.time()) if iat is None else iat
    claims: dict[str, Any] = {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime_s}
    if lxm is not None:
        claims["lxm"] = lxm
    header = {"typ": "JWT", "alg": alg or key.jwt_alg}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return f"{signing_input}.{_b64url(key.sign(signing_input.encode('ascii')))}"


def with_payload(token: str, changes: Mapping[str, Any]) -> str:
    """The JWT with claims changed and the original signature kept."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{head}.{_b64url(json.dumps(claims).encode())}.{sig}"


# --- repositories ---------------------------------------------------------------------------


def record(label: str) -> dict[str, Any]:
    return {"$type": COLLECTION, "label": label, "count": 1, "createdAt": "2024-01-01T00:00:00Z"}


@dataclass
class FakeRepo:
    """A v3 repository in memory (reference primitives), for building CARs."""

    key: SigningKey = field(default_factory=lambda: generate_signing_key("secp256k1"))
    did: str = DID
    store: MemoryBlockStore = field(default_factory=MemoryBlockStore)
    head: CID | None = None
    rev: str | None = None
    clock: TidClock = field(default_factory=TidClock)
    cids: dict[str, CID] = field(default_factory=dict)  # rkey → record CID

    def write(self, records: Mapping[str, Mapping[str, Any]]) -> repo.CommitResult:
        ops = [
            repo.WriteOp("create", COLLECTION, rkey, dagcbor.json_to_ipld(dict(value)))
            for rkey, value in records.items()
        ]
        result = repo.apply_writes(
            self.store, self.did, self.key, self.head, ops, self.clock.next()
        )
        for cid, block in result.new_blocks.items():
            self.store.put_block(bytes(cid), block)
        self.head, self.rev = result.commit_cid, result.rev
        for (_, rkey), cid in result.record_cids.items():
            self.cids[rkey] = cid
        return result

    def proof_car(self, rkey: str) -> bytes:
        assert self.head is not None
        return repo.record_proof_car(self.store, self.head, COLLECTION, rkey)

    def export_car(self) -> bytes:
        assert self.head is not None
        return repo.export_car(self.store, self.head)


def car_blocks(car: bytes) -> tuple[list[CID], dict[CID, bytes]]:
    parsed = read_car(car)
    return list(parsed.roots), dict(parsed.blocks)


def rebuild_car(roots: list[CID], blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    return write_car(roots, list(blocks))


def tamper_block(car: bytes, cid: CID) -> bytes:
    """The CAR with ``cid``'s block bytes changed (its CID no longer matches)."""
    roots, blocks = car_blocks(car)
    changed = bytearray(blocks[cid])
    changed[-1] ^= 0x01
    blocks[cid] = bytes(changed)
    return rebuild_car(roots, blocks.items())


def drop_blocks(car: bytes, keep: Iterable[CID]) -> bytes:
    """The CAR with only the blocks in ``keep`` (and its roots)."""
    roots, blocks = car_blocks(car)
    wanted = set(keep)
    return rebuild_car(roots, ((c, b) for c, b in blocks.items() if c in wanted))


def car_response(car: bytes, *, status: int = 200) -> httpx.Response:
    return response(status, content=car, content_type=CAR_TYPE)


def commit_meta(result: repo.CommitResult) -> dict[str, str]:
    return {"cid": result.commit_cid.encode(), "rev": result.rev}
