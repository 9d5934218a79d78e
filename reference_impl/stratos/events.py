"""The ``zone.stratos.sync.subscribeRecords`` event log and its wire frames.

Events live in ``service.sqlite`` with an increasing ``seq``. A frame is two concatenated
DAG-CBOR values, a header and a body, as on ATProto event streams:
``{"op": 1, "t": "#commit"}`` + body, or ``{"op": -1}`` + ``{"error", "message"}`` for errors.

Wire shapes (docs/stratos.md, with the lexicon's required fields added):

* ``#commit``: ``{seq, did, rev, commit: <cid link>, time, ops: [{action, path, collection, rkey,
  cid: <cid link|null>, record?: <IPLD>, boundary?}]}`` — ``path`` is the doc's field,
  ``collection``/``rkey`` the lexicon's ``#recordOp``. ``record`` is absent on deletes (the doc
  says null, but the lexicon's ``#recordOp`` only allows null for ``cid``). ``boundary``
  (lexicon, optional) is the record's boundary, also on deletes (the boundary it had), so
  consumers can filter by domain.
* ``#enrollment``: ``{seq, did, enrolled, boundaries: [{"value": <qualified domain>}], time}``
  (Domain objects, as the lexicon defines them).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cbrrr import CID, decode_multi_dag_cbor_in_violation_of_the_spec

from ..common.sqlite import Database
from ..primitives import dagcbor
from .hooks import Action, RecordChange

# The lexicon caps one #commit message at 200 ops; a bigger commit (an import) is published as
# several messages with the same commit and rev.
MAX_OPS_PER_MESSAGE = 200


class FrameError(ValueError):
    """Bytes that are not a header + body frame."""


# -- what gets published ----------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedOp:
    action: Action
    collection: str
    rkey: str
    cid: str | None
    record: dict[str, Any] | None  # JSON form
    boundary: tuple[str, ...] | None  # the record's domains (for deletes: the ones it had)

    def change(self) -> RecordChange:
        return RecordChange(self.action, self.collection, self.rkey, self.cid, self.record)

    def ipld(self) -> dict[str, Any]:
        op: dict[str, Any] = {
            "action": self.action,
            "path": f"{self.collection}/{self.rkey}",
            "collection": self.collection,
            "rkey": self.rkey,
            "cid": CID.decode(self.cid) if self.cid is not None else None,
        }
        if self.record is not None:
            op["record"] = dagcbor.json_to_ipld(self.record)
        if self.boundary is not None:
            op["boundary"] = {"values": [{"value": d} for d in self.boundary]}
        return op


@dataclass(frozen=True)
class CommitPublication:
    """One stored commit, as the event log and the hooks need it. Serialisable to JSON so it can
    wait in the user's database until it has been published (crash safety)."""

    did: str
    rev: str
    commit_cid: str
    time: str
    ops: tuple[PublishedOp, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "did": self.did,
                "rev": self.rev,
                "commit": self.commit_cid,
                "time": self.time,
                "ops": [
                    {
                        "action": op.action,
                        "collection": op.collection,
                        "rkey": op.rkey,
                        "cid": op.cid,
                        "record": op.record,
                        "boundary": list(op.boundary) if op.boundary is not None else None,
                    }
                    for op in self.ops
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> CommitPublication:
        raw = json.loads(text)
        return cls(
            did=raw["did"],
            rev=raw["rev"],
            commit_cid=raw["commit"],
            time=raw["time"],
            ops=tuple(
                PublishedOp(
                    action=op["action"],
                    collection=op["collection"],
                    rkey=op["rkey"],
                    cid=op["cid"],
                    record=op["record"],
                    boundary=tuple(op["boundary"]) if op["boundary"] is not None else None,
                )
                for op in raw["ops"]
            ),
        )

    def changes(self) -> list[RecordChange]:
        return [op.change() for op in self.ops]

    def message_bodies(self) -> list[tuple[str, dict[str, Any]]]:
        """(dedupe key, body without seq) per message; one message per 200 ops."""
        chunks = [
            self.ops[i : i + MAX_OPS_PER_MESSAGE]
            for i in range(0, len(self.ops), MAX_OPS_PER_MESSAGE)
        ] or [()]
        return [
            (
                f"{self.commit_cid}#{index}",
                {
                    "did": self.did,
                    "rev": self.rev,
                    "commit": CID.decode(self.commit_cid),
                    "time": self.time,
                    "ops": [op.ipld() for op in chunk],
                },
            )
            for index, chunk in enumerate(chunks)
        ]


# -- frames ---------------------------------------------------------------------------------


def encode_message(kind: str, body: dict[str, Any]) -> bytes:
    return dagcbor.encode({"op": 1, "t": kind}) + dagcbor.encode(body)


def encode_error(error: str, message: str) -> bytes:
    return dagcbor.encode({"op": -1}) + dagcbor.encode({"error": error, "message": message})


def decode_frame(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, body) of one frame; raises FrameError."""
    try:
        parts = list(decode_multi_dag_cbor_in_violation_of_the_spec(bytes(data)))
    except (ValueError, TypeError, EOFError) as exc:
        raise FrameError(f"not a DAG-CBOR frame: {exc}") from None
    if len(parts) != 2 or not all(isinstance(p, dict) for p in parts):
        raise FrameError(f"a frame is a header and a body, got {len(parts)} values")
    header, body = parts
    assert isinstance(header, dict) and isinstance(body, dict)
    return header, body


# -- the log ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    did: str
    kind: str
    body: dict[str, Any]  # IPLD form, without seq

    def select(self, did: str | None, domain: str | None) -> dict[str, Any] | None:
        """The body to send a subscriber with these filters (seq included), or None to skip.

        ``domain`` keeps only record ops bounded to that domain; enrollment events always pass
        (consumers need them to know who may see what).
        """
        if did is not None and self.did != did:
            return None
        body = dict(self.body)
        if domain is not None and self.kind == "#commit":
            ops = [op for op in body.get("ops", []) if _bounded_to(op, domain)]
            if not ops:
                return None
            body["ops"] = ops
        return {"seq": self.seq, **body}


def _bounded_to(op: dict[str, Any], domain: str) -> bool:
    boundary = op.get("boundary")
    values = boundary.get("values", []) if isinstance(boundary, dict) else []
    return any(isinstance(v, dict) and v.get("value") == domain for v in values)


class EventLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append_commit(self, publication: CommitPublication) -> None:
        """Idempotent: re-publishing a commit (crash recovery) adds nothing."""
        with self.db.transaction() as conn:
            for source, body in publication.message_bodies():
                conn.execute(
                    "INSERT OR IGNORE INTO event (did, kind, body, source, created_at)"
                    " VALUES (?, '#commit', ?, ?, ?)",
                    (publication.did, dagcbor.encode(body), source, publication.time),
                )

    @staticmethod
    def append_enrollment(
        conn: sqlite3.Connection, did: str, enrolled: bool, boundaries: Sequence[str], time: str
    ) -> None:
        """Inside the caller's transaction, so the event and the enrollment change are one."""
        body = {
            "did": did,
            "enrolled": enrolled,
            "boundaries": [{"value": d} for d in boundaries],
            "time": time,
        }
        conn.execute(
            "INSERT INTO event (did, kind, body, source, created_at)"
            " VALUES (?, '#enrollment', ?, NULL, ?)",
            (did, dagcbor.encode(body), time),
        )

    def latest_seq(self) -> int:
        row = self.db.query_one("SELECT MAX(seq) AS seq FROM event")
        return int(row["seq"]) if row is not None and row["seq"] is not None else 0

    def read_after(self, seq: int, limit: int = 500) -> list[StoredEvent]:
        rows = self.db.query(
            "SELECT seq, did, kind, body FROM event WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            StoredEvent(int(r["seq"]), r["did"], r["kind"], dagcbor.decode(bytes(r["body"])))
            for r in rows
        ]
