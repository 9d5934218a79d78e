"""Checking one requested record write before anything is stored.

Every refusal here is a 4xx with the XRPC envelope: a collection outside ``zone.stratos.*``
(STR-REPO-02), a bad record key, a record that violates its lexicon, or a boundary the writer may
not use (STR-BND-06). Nothing in this module touches storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lexicons import Catalog, LexiconValidationError
from lexicons.datamodel import check_data_model
from lexicons.syntax import is_valid_nsid, is_valid_record_key

from ..common.errors import invalid_request
from ..primitives import dagcbor
from ..primitives.tid import TidClock
from .errors import invalid_record
from .policy import MalformedBoundary, RecordBoundary, boundary_of, check_write_boundary

STRATOS_NAMESPACE = "zone.stratos."

Action = Literal["create", "update", "delete"]


class _Unset:
    """An optional swap value the client did not send (``null`` means "must not exist")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class RecordWrite:
    """One write as a client asked for it."""

    action: Action
    collection: str
    rkey: str | None
    value: dict[str, Any] | None = None  # JSON form
    swap_record: str | _Unset | None = UNSET


@dataclass(frozen=True)
class PreparedWrite:
    """A checked write: key chosen, record converted, boundary known."""

    action: Action
    collection: str
    rkey: str
    record: dict[str, Any] | None  # JSON form, with $type; None for deletes
    ipld: dict[str, Any] | None  # what gets encoded
    boundary: RecordBoundary
    validation_status: str | None
    swap_record: str | _Unset | None = UNSET


class RecordPreparer:
    def __init__(self, catalog: Catalog, tids: TidClock, service_did: str) -> None:
        self.catalog = catalog
        self.tids = tids
        self.service_did = service_did

    def prepare(
        self, write: RecordWrite, writer_domains: frozenset[str], validate: bool | None
    ) -> PreparedWrite:
        collection = write.collection
        if not is_valid_nsid(collection):
            raise invalid_request(f"Invalid collection NSID: {collection!r}")
        if not collection.startswith(STRATOS_NAMESPACE):
            raise invalid_request(
                f"Stratos only stores zone.stratos.* collections, not {collection!r}"
            )
        schema = self.catalog.record_schema(collection)
        rkey = write.rkey
        if rkey is None:
            if write.action != "create":
                raise invalid_request("rkey is required")
            if schema is not None and schema.key.startswith("literal:"):
                rkey = schema.key.removeprefix("literal:")
            else:
                rkey = self.tids.next()
        if not is_valid_record_key(rkey):
            raise invalid_request(f"Invalid record key: {rkey!r}")
        if schema is not None and schema.key.startswith("literal:"):
            literal = schema.key.removeprefix("literal:")
            if rkey != literal:
                raise invalid_request(f"{collection} records must use the key {literal!r}")
        if write.action == "delete":
            return PreparedWrite(
                "delete", collection, rkey, None, None, None, None, write.swap_record
            )

        if not isinstance(write.value, dict):
            raise invalid_request("A record must be a JSON object")
        record = dict(write.value)
        declared = record.setdefault("$type", collection)
        if declared != collection:
            raise invalid_request(
                f"Record $type {declared!r} does not match collection {collection!r}"
            )
        try:
            check_data_model(record)
        except LexiconValidationError as exc:
            raise invalid_request(f"Invalid record: {exc}") from exc
        status = "unknown"
        if schema is not None and validate is not False:
            try:
                self.catalog.validate_record(collection, record)
            except LexiconValidationError as exc:
                raise invalid_request(f"Invalid {collection} record: {exc}") from exc
            status = "valid"
        elif schema is None and validate is True:
            raise invalid_request(f"Unknown lexicon {collection}; cannot validate")

        # The boundary is checked whatever ``validate`` says: it decides who may read.
        try:
            boundary = boundary_of(record)
        except MalformedBoundary as exc:
            raise invalid_record("InvalidBoundary", str(exc)) from exc
        violation = check_write_boundary(boundary, writer_domains, self.service_did)
        if violation is not None:
            raise invalid_record(violation.reason, violation.message)
        try:
            ipld = dagcbor.json_to_ipld(record)
        except dagcbor.DagCborError as exc:
            raise invalid_request(f"Invalid record: {exc}") from exc
        return PreparedWrite(
            write.action, collection, rkey, record, ipld, boundary, status, write.swap_record
        )
