"""The signed v3 repository commit object.

``{did, version: 3, data: <MST root>, rev: <TID>, prev: <CID|null>, sig: <64 bytes>}``; the
signature covers the DAG-CBOR encoding of the same map without ``sig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cbrrr import CID

from . import dagcbor
from .keys import SigningKey, verify_signature
from .tid import is_valid_tid

COMMIT_VERSION = 3
_FIELDS = frozenset({"did", "version", "data", "rev", "prev", "sig"})


class CommitFormatError(ValueError):
    """A block that is not a well-formed v3 commit."""


@dataclass(frozen=True)
class Commit:
    did: str
    version: int
    data: CID
    rev: str
    prev: CID | None
    sig: bytes

    def unsigned_ipld(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "version": self.version,
            "data": self.data,
            "rev": self.rev,
            "prev": self.prev,
        }

    def to_ipld(self) -> dict[str, Any]:
        return {**self.unsigned_ipld(), "sig": self.sig}

    def encode(self) -> bytes:
        return dagcbor.encode(self.to_ipld())

    @classmethod
    def from_ipld(cls, obj: Any) -> Commit:
        if not isinstance(obj, dict):
            raise CommitFormatError("commit block is not a map")
        extra = set(obj) - _FIELDS
        if extra:
            # The signature covers every field; silently dropping unknown ones would make a
            # tampered commit look like a different (validly signed) one.
            raise CommitFormatError(f"unexpected commit fields: {sorted(extra)}")
        version = obj.get("version")
        if version != COMMIT_VERSION:
            raise CommitFormatError(f"unsupported commit version {version!r} (need 3)")
        did, data, rev = obj.get("did"), obj.get("data"), obj.get("rev")
        prev, sig = obj.get("prev"), obj.get("sig")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise CommitFormatError("commit 'did' is not a DID")
        if not isinstance(data, CID):
            raise CommitFormatError("commit 'data' is not a CID link")
        if not isinstance(rev, str) or not is_valid_tid(rev):
            raise CommitFormatError(f"commit 'rev' is not a TID: {rev!r}")
        if prev is not None and not isinstance(prev, CID):
            raise CommitFormatError("commit 'prev' is neither null nor a CID link")
        if not isinstance(sig, bytes):
            raise CommitFormatError("commit 'sig' is not a byte string")
        return cls(did=did, version=version, data=data, rev=rev, prev=prev, sig=sig)

    @classmethod
    def decode(cls, block: bytes) -> Commit:
        try:
            obj = dagcbor.decode(block)
        except dagcbor.DagCborError as exc:
            raise CommitFormatError(str(exc)) from None
        return cls.from_ipld(obj)


def sign_commit(did: str, data: CID, rev: str, key: SigningKey, prev: CID | None = None) -> Commit:
    unsigned = Commit(did=did, version=COMMIT_VERSION, data=data, rev=rev, prev=prev, sig=b"")
    sig = key.sign(dagcbor.encode(unsigned.unsigned_ipld()))
    return Commit(did=did, version=COMMIT_VERSION, data=data, rev=rev, prev=prev, sig=sig)


def verify_commit(commit: Commit | Mapping[str, Any], did_key: str) -> bool:
    """Does the commit's signature verify against ``did_key`` (did:key or multikey)?

    Accepts the decoded block (a dict) as well as a Commit; for a dict the signed bytes are the
    map minus ``sig``, exactly as received. Never raises.
    """
    if isinstance(commit, Commit):
        unsigned: Mapping[str, Any] = commit.unsigned_ipld()
        sig: Any = commit.sig
    elif isinstance(commit, Mapping):
        unsigned = {k: v for k, v in commit.items() if k != "sig"}
        sig = commit.get("sig")
    else:
        return False
    if not isinstance(sig, bytes):
        return False
    try:
        signed_bytes = dagcbor.encode(dict(unsigned))
    except dagcbor.DagCborError:
        return False
    return verify_signature(did_key, signed_bytes, sig)
