"""Typed events from decoded ``subscribeRecords`` message frames (pure).

The stream's shapes are in docs/stratos.md ("Event stream") and the subscribeRecords lexicon.
The two differ in small ways, so both are read:

* a record op names its record either by ``path`` (``"<collection>/<rkey>"``, the doc) or by
  ``collection`` + ``rkey`` (the lexicon);
* enrollment ``boundaries`` are either domain strings (the doc) or ``{"value": domain}``
  objects (the lexicon's ``zone.stratos.boundary.defs#Domain``).

A body that lacks what the event needs raises EventError; one bad op inside an otherwise good
commit is reported in ``invalid_ops`` and left out, so the rest of the commit still counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cbrrr import CID

from ...primitives.dagcbor import DagCborError, parse_cid
from .frames import MessageFrame

Action = Literal["create", "update", "delete"]
_ACTIONS: tuple[Action, ...] = ("create", "update", "delete")


class EventError(ValueError):
    """A known event type whose body is not usable."""


@dataclass(frozen=True)
class RecordOp:
    action: Action
    collection: str
    rkey: str
    cid: CID | None
    record: dict[str, Any] | None  # IPLD form; None for deletes


@dataclass(frozen=True)
class CommitEvent:
    seq: int
    did: str
    rev: str
    time: str
    ops: tuple[RecordOp, ...]
    invalid_ops: tuple[str, ...] = ()  # why each left-out op was refused (for the log)


@dataclass(frozen=True)
class EnrollmentEvent:
    seq: int
    did: str
    enrolled: bool
    boundaries: tuple[str, ...]  # qualified domains
    time: str


@dataclass(frozen=True)
class InfoEvent:
    name: str
    message: str | None


Event = CommitEvent | EnrollmentEvent | InfoEvent


def parse_event(frame: MessageFrame) -> Event | None:
    """The event a message frame carries; None for types this consumer does not know.

    Unknown types are skipped rather than refused: event streams may grow new message types,
    and an older consumer must keep working (the ATProto event-stream rule).
    """
    if frame.type == "#commit":
        return _commit(frame.body)
    if frame.type == "#enrollment":
        return _enrollment(frame.body)
    if frame.type == "#info":
        name = frame.body.get("name")
        if not isinstance(name, str):
            raise EventError("#info without a name")
        message = frame.body.get("message")
        return InfoEvent(name, message if isinstance(message, str) else None)
    return None


def _seq(body: dict[str, Any]) -> int:
    seq = body.get("seq")
    # bool is an int subclass; a True seq is a bug upstream, not sequence number 1.
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise EventError(f"seq must be a non-negative integer, got {seq!r}")
    return seq


def _did(body: dict[str, Any]) -> str:
    did = body.get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise EventError(f"did must be a DID, got {did!r}")
    return did


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    return value if isinstance(value, str) else ""


def _commit(body: dict[str, Any]) -> CommitEvent:
    seq, did = _seq(body), _did(body)
    raw_ops = body.get("ops")
    if not isinstance(raw_ops, list):
        raise EventError("#commit without an ops list")
    ops: list[RecordOp] = []
    invalid: list[str] = []
    for index, raw in enumerate(raw_ops):
        try:
            ops.append(_op(raw))
        except EventError as exc:
            invalid.append(f"ops[{index}]: {exc}")
    return CommitEvent(
        seq, did, _text(body, "rev"), _text(body, "time"), tuple(ops), tuple(invalid)
    )


def _op(raw: Any) -> RecordOp:
    if not isinstance(raw, dict):
        raise EventError("op is not a map")
    action = raw.get("action")
    if action not in _ACTIONS:
        raise EventError(f"unknown action {action!r}")
    collection, rkey = _op_target(raw)
    cid = _op_cid(raw.get("cid"))
    record = raw.get("record")
    if action == "delete":
        return RecordOp(action, collection, rkey, None, None)
    if not isinstance(record, dict):
        raise EventError(f"{action} of {collection}/{rkey} without a record")
    return RecordOp(action, collection, rkey, cid, record)


def _op_target(raw: dict[str, Any]) -> tuple[str, str]:
    path = raw.get("path")
    if isinstance(path, str):
        collection, _, rkey = path.partition("/")
    else:
        named_collection, named_rkey = raw.get("collection"), raw.get("rkey")
        if not isinstance(named_collection, str) or not isinstance(named_rkey, str):
            raise EventError("op names no record (neither path nor collection + rkey)")
        collection, rkey = named_collection, named_rkey
    if not collection or not rkey or "/" in rkey:
        raise EventError(f"op names no record ({collection!r}, {rkey!r})")
    return collection, rkey


def _op_cid(value: Any) -> CID | None:
    if value is None or isinstance(value, CID):
        return value
    if isinstance(value, str):
        # A CID sent as a string rather than a link: tolerated, it names the same thing.
        try:
            return parse_cid(value)
        except DagCborError as exc:
            raise EventError(str(exc)) from None
    raise EventError(f"cid must be a link, got {type(value).__name__}")


def _enrollment(body: dict[str, Any]) -> EnrollmentEvent:
    seq, did = _seq(body), _did(body)
    enrolled = body.get("enrolled")
    if not isinstance(enrolled, bool):
        raise EventError(f"enrolled must be a boolean, got {enrolled!r}")
    raw = body.get("boundaries", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise EventError("boundaries must be a list")
    domains: list[str] = []
    for item in raw:
        value = item.get("value") if isinstance(item, dict) else item
        if not isinstance(value, str) or not value:
            raise EventError(f"boundary must be a domain string, got {item!r}")
        domains.append(value)
    # An unenrolled user keeps no domains, whatever the event says.
    boundaries = tuple(sorted(set(domains))) if enrolled else ()
    return EnrollmentEvent(seq, did, enrolled, boundaries, _text(body, "time"))
