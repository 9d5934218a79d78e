"""What the index stores for one ``zone.stratos.feed.post`` create/update (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lexicons.syntax import is_valid_did, is_valid_record_key

from ...primitives.dagcbor import DagCborError, cid_for_cbor, encode, ipld_to_json
from .events import RecordOp

POST_COLLECTION = "zone.stratos.feed.post"


class PostError(ValueError):
    """An op the index cannot store (the stream carried something unusable)."""


@dataclass(frozen=True)
class Boundary:
    """A post's boundary as the visibility rule needs it.

    ``bounded`` is separate from ``domains`` so that a boundary that is present but names no
    usable domain restricts the post to its author instead of opening it to every viewer.
    """

    bounded: bool
    domains: frozenset[str]


UNBOUNDED = Boundary(False, frozenset())


@dataclass(frozen=True)
class IndexedPost:
    uri: str
    did: str
    rkey: str
    cid: str
    record: dict[str, Any]  # JSON form ($link / $bytes), as getTimeline returns it
    boundary: Boundary
    sort_at: str  # createdAt normalised to UTC (fixed width, so text order is time order)
    indexed_at: str


def is_post(op: RecordOp) -> bool:
    return op.collection == POST_COLLECTION


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def indexed_post(did: str, op: RecordOp, indexed_at: str) -> IndexedPost:
    """The row for a create/update of a post; raises PostError."""
    if op.record is None:
        raise PostError(f"{op.action} of {op.rkey} carries no record")
    # The view's uri/did must satisfy the lexicon's formats, or every timeline holding the post
    # would fail output validation: refuse such ops once, here.
    if not is_valid_did(did):
        raise PostError(f"invalid DID {did!r}")
    if not is_valid_record_key(op.rkey):
        raise PostError(f"invalid record key {op.rkey!r}")
    try:
        cid = op.cid if op.cid is not None else cid_for_cbor(encode(op.record))
    except DagCborError as exc:
        raise PostError(str(exc)) from None
    record = ipld_to_json(op.record)
    return IndexedPost(
        uri=post_uri(did, op.rkey),
        did=did,
        rkey=op.rkey,
        cid=cid.encode(),
        record=record,
        boundary=boundary_of(record),
        sort_at=sort_key(record.get("createdAt"), indexed_at),
        indexed_at=indexed_at,
    )


def boundary_of(record: dict[str, Any]) -> Boundary:
    """``record.boundary.values[].value``; a malformed boundary still counts as a boundary."""
    if "boundary" not in record or record["boundary"] is None:
        return UNBOUNDED
    raw = record["boundary"]
    values = raw.get("values") if isinstance(raw, dict) else None
    domains: set[str] = set()
    for item in values if isinstance(values, list) else []:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, str) and value:
            domains.add(value)
    return Boundary(True, frozenset(domains))


def sort_key(created_at: Any, fallback: str) -> str:
    """createdAt as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; ``fallback`` when unparseable.

    Clients write createdAt with any precision and offset (``Z``, ``+02:00``, milliseconds or
    none), so the raw strings do not sort in time order; the normalised form does.
    """
    if isinstance(created_at, str):
        try:
            parsed = datetime.fromisoformat(created_at)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return _fixed_width(parsed)
    return fallback


def format_time(epoch_s: float) -> str:
    """A timestamp in the same fixed-width form (indexedAt, and the sort-key fallback)."""
    return _fixed_width(datetime.fromtimestamp(epoch_s, UTC))


def _fixed_width(moment: datetime) -> str:
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"
