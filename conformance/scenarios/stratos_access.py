"""Probes for Stratos's boundary rule (STR-BND-01..08): who may read a record, and whether the
answers given to everyone else reveal that it exists.

The owner writes records bounded to the domain it shares with the peer, records with no
boundary, and (where the outsider can) the outsider writes one bounded to its own domain. The
probes read them back as the owner, the peer, the outsider and an unauthenticated caller with
``getRecord``, ``hydrateRecord(s)``, ``listRecords`` and ``sync.getRecord``; "hidden" answers are
paired with the answer for a record that does not exist (a fresh random TID in the same repo and
collection), so a check can compare them field by field.

Also here, because checks and other scenarios share them: :func:`response_differences` (status,
XRPC body field by field, headers apart from volatile ones), :func:`median` /
:func:`percentile`, and :func:`random_tid`.

Probes return what came back; they never decide. ``Probe.case`` names what was sent in words
(roles, record kinds, rkeys) and never holds a token.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.clients.xrpc import XrpcClient
from conformance.scenarios.base import Probe, is_success, json_body

POST_COLLECTION = "zone.stratos.feed.post"
RECORD_NOT_FOUND = "RecordNotFound"
CAR_MEDIA_TYPE = "application/vnd.ipld.car"
SYNC_GET_RECORD = "com.atproto.sync.getRecord"

# Headers whose values legitimately change from one response to the next (RFC 9110 Date, DPoP
# nonces, rate-limit counters, per-request ids and tracing); everything else must be identical
# between a hidden record's 404 and a missing record's 404 (STR-BND-02).
VOLATILE_HEADERS = frozenset(
    {
        "date",
        "dpop-nonce",
        "ratelimit",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "age",
        "x-request-id",
        "request-id",
        "x-correlation-id",
        "x-amzn-requestid",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "cf-ray",
        "traceparent",
        "tracestate",
        "server-timing",
        "x-response-time",
    }
)

# Visible (V) and hidden-to-the-outsider (H) records, in write order, for the listing probes:
# hidden runs of one, two and three, and hidden records last, so a server that filters after
# applying ``limit`` (short pages) or hands out the last *scanned* rkey as cursor shows it.
LISTING_PATTERN = "VHHVHVVHHHVHH"
LISTING_LIMIT = 2
MAX_PAGES = 500
PAGINATION_BUDGET_S = 120.0
WRITE_RETRY_MAX_WAIT_S = 75.0


# --- small pure helpers -----------------------------------------------------------------------

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"


def random_tid(at_us: int | None = None) -> str:
    """A valid TID (13 base32-sortable characters) for the current time and a random clock id.

    Used as the rkey of a record that does not exist: it has the form of a real rkey of a
    ``tid``-keyed collection, so a server cannot tell it apart by shape.
    """
    micros = time.time_ns() // 1000 if at_us is None else at_us
    value = ((micros & ((1 << 53) - 1)) << 10) | secrets.randbelow(1 << 10)
    chars = []
    for _ in range(13):
        chars.append(_B32_SORTABLE[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def at_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def split_at_uri(uri: str) -> tuple[str, str, str] | None:
    """``(did, collection, rkey)`` of an ``at://`` record URI, or None."""
    if not uri.startswith("at://"):
        return None
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def record_boundary(value: Any) -> frozenset[str]:
    """The qualified domains of a record value's ``boundary`` (empty: readable by any enrolled)."""
    boundary = value.get("boundary") if isinstance(value, Mapping) else None
    values = boundary.get("values") if isinstance(boundary, Mapping) else None
    if not isinstance(values, list):
        return frozenset()
    return frozenset(
        v["value"] for v in values if isinstance(v, Mapping) and isinstance(v.get("value"), str)
    )


def may_read(viewer_did: str | None, viewer_domains: Iterable[str], owner: str, value: Any) -> bool:
    """The spec's rule: the owner, or an enrolled viewer sharing a domain (any enrolled viewer
    for a record without boundary). ``viewer_did`` None is an unauthenticated caller."""
    if viewer_did is None:
        return False
    if viewer_did == owner:
        return True
    domains = record_boundary(value)
    return not domains or bool(domains & frozenset(viewer_domains))


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError("p must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def comparable_headers(response: httpx.Response) -> dict[str, tuple[str, ...]]:
    """The response's headers minus volatile ones: lower-case name → every value, in order."""
    out: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        if key in VOLATILE_HEADERS:
            continue
        out.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def response_differences(a: httpx.Response, b: httpx.Response) -> tuple[str, ...]:
    """How ``b`` differs from ``a``: status, body (JSON object field by field, else bytes) and
    headers apart from :data:`VOLATILE_HEADERS`. Empty when indistinguishable."""
    diffs: list[str] = []
    if a.status_code != b.status_code:
        diffs.append(f"status {a.status_code} vs {b.status_code}")
    body_a, body_b = json_body(a), json_body(b)
    if isinstance(body_a, dict) and isinstance(body_b, dict):
        for key in sorted(set(body_a) | set(body_b)):
            if key not in body_b:
                diffs.append(f"body field {key!r} only in the first")
            elif key not in body_a:
                diffs.append(f"body field {key!r} only in the second")
            elif body_a[key] != body_b[key]:
                diffs.append(f"body field {key!r}: {_short(body_a[key])} vs {_short(body_b[key])}")
    elif a.content != b.content:
        diffs.append(f"body differs ({len(a.content)} vs {len(b.content)} bytes)")
    headers_a, headers_b = comparable_headers(a), comparable_headers(b)
    for name in sorted(set(headers_a) | set(headers_b)):
        if name not in headers_b:
            diffs.append(f"header {name} only in the first")
        elif name not in headers_a:
            diffs.append(f"header {name} only in the second")
        elif headers_a[name] != headers_b[name]:
            diffs.append(
                f"header {name}: {_short(', '.join(headers_a[name]))} vs "
                f"{_short(', '.join(headers_b[name]))}"
            )
    return tuple(diffs)


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_car(response: httpx.Response) -> bool:
    return media_type(response) == CAR_MEDIA_TYPE


def body_object(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object of a 2xx response, else None."""
    if not is_success(response):
        return None
    body = json_body(response)
    return body if isinstance(body, dict) else None


# --- who is asking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A caller of Stratos: a role, its DID (None when unauthenticated), the ``httpx.Auth`` it
    presents, and the qualified domains it is enrolled in."""

    role: str
    did: str | None
    auth: httpx.Auth | None = field(default=None, repr=False, compare=False)
    domains: frozenset[str] = frozenset()

    @classmethod
    def anonymous(cls) -> Viewer:
        return cls("unauthenticated caller", None, None)

    def may_read(self, owner: str, value: Any) -> bool:
        return may_read(self.did, self.domains, owner, value)


# --- XRPC calls (raw responses) ---------------------------------------------------------------


def _retry_after_s(response: httpx.Response) -> float | None:
    for name in ("retry-after", "ratelimit-reset"):
        value = response.headers.get(name, "").strip()
        if value.isdigit():
            return float(value)
    return None


def honouring_retry_after(
    send: Callable[[], httpx.Response],
    *,
    attempts: int = 3,
    max_wait_s: float = WRITE_RETRY_MAX_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """``send()``; on a 429, wait what ``Retry-After`` (or ``RateLimit-Reset``) says — at most
    ``max_wait_s`` — and send again, at most ``attempts`` times in all. The boundary probes
    write a few dozen records; a deployment with a small write window must not turn them
    into 429s that the boundary checks would misread."""
    response = send()
    for _ in range(attempts - 1):
        if response.status_code != 429:
            break
        wait = _retry_after_s(response)
        sleep(min(max_wait_s, 1.0 if wait is None else wait + 0.25))
        response = send()
    return response


def create_record(
    stratos: XrpcClient,
    author: Viewer,
    value: Mapping[str, Any],
    *,
    collection: str = POST_COLLECTION,
    rkey: str | None = None,
) -> httpx.Response:
    """createRecord in the author's repo (waiting out a 429 as :func:`honouring_retry_after`)."""
    body: dict[str, Any] = {"repo": author.did, "collection": collection, "record": dict(value)}
    if rkey is not None:
        body["rkey"] = rkey
    return honouring_retry_after(
        lambda: stratos.procedure("com.atproto.repo.createRecord", body, auth=author.auth)
    )


def get_record(
    stratos: XrpcClient, viewer: Viewer, did: str, rkey: str, collection: str = POST_COLLECTION
) -> httpx.Response:
    params = {"repo": did, "collection": collection, "rkey": rkey}
    return stratos.query("com.atproto.repo.getRecord", params, auth=viewer.auth)


def hydrate_record(stratos: XrpcClient, viewer: Viewer, uri: str) -> httpx.Response:
    return stratos.query("zone.stratos.repo.hydrateRecord", {"uri": uri}, auth=viewer.auth)


def hydrate_records(stratos: XrpcClient, viewer: Viewer, uris: Sequence[str]) -> httpx.Response:
    return stratos.procedure(
        "zone.stratos.repo.hydrateRecords", {"uris": list(uris)}, auth=viewer.auth
    )


def list_records(
    stratos: XrpcClient,
    viewer: Viewer,
    did: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    collection: str = POST_COLLECTION,
) -> httpx.Response:
    params = {"repo": did, "collection": collection, "limit": limit, "cursor": cursor}
    return stratos.query("com.atproto.repo.listRecords", params, auth=viewer.auth)


def sync_get_record(
    stratos: XrpcClient, viewer: Viewer, did: str, rkey: str, collection: str = POST_COLLECTION
) -> httpx.Response:
    params = {"did": did, "collection": collection, "rkey": rkey}
    return stratos.query("com.atproto.sync.getRecord", params, auth=viewer.auth)


def list_domains(stratos: XrpcClient) -> httpx.Response:
    return stratos.query("zone.stratos.server.listDomains")


def get_timeline(
    appview: XrpcClient, viewer: Viewer, *, limit: int = 100, cursor: str | None = None
) -> httpx.Response:
    return appview.query(
        "zone.stratos.feed.getTimeline", {"limit": limit, "cursor": cursor}, auth=viewer.auth
    )


def paginate(
    fetch: Callable[[str | None], httpx.Response],
    case: str,
    *,
    max_pages: int = MAX_PAGES,
    budget_s: float = PAGINATION_BUDGET_S,
    items_key: str = "records",
) -> tuple[Probe, ...]:
    """Follow ``cursor`` from the first page to the last (a page without cursor or items), or
    until a non-2xx answer, a repeated cursor, ``max_pages`` or ``budget_s``."""
    pages: list[Probe] = []
    cursor: str | None = None
    seen: set[str] = set()
    deadline = time.monotonic() + budget_s
    for number in range(1, max_pages + 1):
        response = fetch(cursor)
        pages.append(Probe(f"{case}, page {number}", response))
        body = body_object(response)
        if body is None:
            break
        items = body.get(items_key)
        next_cursor = body.get("cursor")
        if not isinstance(items, list) or not items or not isinstance(next_cursor, str):
            break
        if not next_cursor or next_cursor in seen or time.monotonic() > deadline:
            break
        seen.add(next_cursor)
        cursor = next_cursor
    return tuple(pages)


# --- the records the probes read --------------------------------------------------------------


@dataclass(frozen=True)
class WrittenRecord:
    """A record a probe wrote (``uri``/``cid`` as the service answered) and its boundary."""

    uri: str
    did: str
    collection: str
    rkey: str
    cid: str | None
    value: Mapping[str, Any] = field(repr=False)

    @property
    def boundary(self) -> frozenset[str]:
        return record_boundary(self.value)


def post(
    text: str, boundary: Iterable[str] = (), *, created_at: str | None = None
) -> dict[str, Any]:
    """A ``zone.stratos.feed.post`` record, bounded to the given qualified domains."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": created_at or "2026-11-20T12:00:00.000Z",
    }
    domains = sorted(set(boundary))
    if domains:
        record["boundary"] = {"values": [{"value": d} for d in domains]}
    return record


def now_iso() -> str:
    micros = time.time_ns() // 1000
    seconds, frac = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac // 1000:03d}Z"


def write_post(
    stratos: XrpcClient, author: Viewer, value: Mapping[str, Any], case: str
) -> tuple[Probe, WrittenRecord | None]:
    """createRecord of ``value`` in the author's repo; the record as written, if it was."""
    response = create_record(stratos, author, value)
    probe = Probe(case, response)
    body = body_object(response)
    uri = body.get("uri") if body is not None else None
    parts = split_at_uri(uri) if isinstance(uri, str) else None
    if parts is None or author.did is None:
        return probe, None
    cid = body.get("cid") if body is not None else None
    did, collection, rkey = parts
    return probe, WrittenRecord(
        str(uri), did, collection, rkey, cid if isinstance(cid, str) else None, dict(value)
    )


@dataclass(frozen=True)
class BoundaryRecords:
    """What the owner (and the outsider) wrote for the boundary probes.

    ``shared`` is bounded to the owner/peer shared domain (hidden from the outsider), ``open``
    has no boundary, ``foreign`` is the outsider's own record bounded to a domain the owner does
    not have (None where the outsider could not write one), ``listing`` follows
    :data:`LISTING_PATTERN`. ``writes`` are every write sent: the controls of every probe set.
    """

    owner: str
    shared_domain: str
    shared: WrittenRecord | None
    open: WrittenRecord | None
    foreign: WrittenRecord | None
    listing: tuple[WrittenRecord, ...]
    writes: tuple[Probe, ...]

    @property
    def hidden_from_outsider(self) -> tuple[WrittenRecord, ...]:
        """Every record written here that carries the shared domain."""
        found = [self.shared] if self.shared is not None else []
        found += [r for r in self.listing if r.boundary]
        return tuple(found)


def write_boundary_records(
    stratos: XrpcClient,
    owner: Viewer,
    shared_domain: str,
    *,
    outsider: Viewer | None = None,
    foreign_domain: str | None = None,
) -> BoundaryRecords:
    """The owner writes a record bounded to ``shared_domain``, one without boundary and the
    listing sequence; the outsider (if given) writes one bounded to ``foreign_domain``."""
    if owner.did is None:
        raise ValueError("the owner must be authenticated")
    tag = secrets.token_hex(4)
    writes: list[Probe] = []

    def write(
        author: Viewer, text: str, boundary: Iterable[str], what: str
    ) -> WrittenRecord | None:
        probe, record = write_post(stratos, author, post(text, boundary), f"{author.role}: {what}")
        writes.append(probe)
        return record

    shared = write(
        owner, f"bnd {tag} shared", [shared_domain], f"createRecord bounded to {shared_domain}"
    )
    open_record = write(owner, f"bnd {tag} open", [], "createRecord without boundary")
    listing: list[WrittenRecord] = []
    for index, kind in enumerate(LISTING_PATTERN):
        hidden = kind == "H"
        record = write(
            owner,
            f"bnd {tag} list {index}",
            [shared_domain] if hidden else [],
            f"createRecord #{index} of the listing sequence "
            + (f"(bounded to {shared_domain})" if hidden else "(no boundary)"),
        )
        if record is not None:
            listing.append(record)
    foreign = None
    if outsider is not None and outsider.did is not None and foreign_domain is not None:
        foreign = write(
            outsider,
            f"bnd {tag} foreign",
            [foreign_domain],
            f"createRecord bounded to {foreign_domain}",
        )
    return BoundaryRecords(
        owner.did, shared_domain, shared, open_record, foreign, tuple(listing), tuple(writes)
    )


# --- STR-BND-01: the owner and same-domain viewers read ---------------------------------------


@dataclass(frozen=True)
class ReadProbe:
    """A read that must succeed and return ``record``."""

    record: WrittenRecord
    probe: Probe


@dataclass(frozen=True)
class VisibleReads:
    writes: tuple[Probe, ...]
    reads: tuple[ReadProbe, ...]


def probe_visible_reads(
    stratos: XrpcClient,
    records: BoundaryRecords,
    owner: Viewer,
    peer: Viewer,
    outsider: Viewer | None = None,
) -> VisibleReads:
    """getRecord and hydrateRecord of the shared record as owner and peer, and of the record
    without boundary as owner, peer and outsider (any enrolled viewer may read it)."""
    reads: list[ReadProbe] = []
    if records.shared is not None:
        rec = records.shared
        what = f"the record bounded to {records.shared_domain}"
        for viewer in (owner, peer):
            reads.append(
                ReadProbe(
                    rec,
                    Probe(
                        f"{viewer.role}: getRecord of {what}",
                        get_record(stratos, viewer, rec.did, rec.rkey),
                    ),
                )
            )
            reads.append(
                ReadProbe(
                    rec,
                    Probe(
                        f"{viewer.role}: hydrateRecord of the record bounded to "
                        f"{records.shared_domain}",
                        hydrate_record(stratos, viewer, rec.uri),
                    ),
                )
            )
    if records.open is not None:
        rec = records.open
        for viewer in (owner, peer, *([outsider] if outsider is not None else [])):
            reads.append(
                ReadProbe(
                    rec,
                    Probe(
                        f"{viewer.role}: getRecord of the record without boundary",
                        get_record(stratos, viewer, rec.did, rec.rkey),
                    ),
                )
            )
    return VisibleReads(records.writes, tuple(reads))


# --- STR-BND-02/03: a hidden record answers like a missing one --------------------------------


@dataclass(frozen=True)
class NotFoundPair:
    """The answer for a hidden record and for a record that does not exist, asked the same way
    by the same caller (same repo and collection, a fresh random TID)."""

    case: str
    hidden: Probe
    missing: Probe
    method: str = "com.atproto.repo.getRecord"


@dataclass(frozen=True)
class HiddenReadProbes:
    """``controls`` must succeed (the records exist and the viewer's own access works);
    every pair — getRecord, hydrateRecord and sync.getRecord — must be indistinguishable
    404s."""

    viewer: str
    controls: tuple[Probe, ...]
    pairs: tuple[NotFoundPair, ...]


def _hidden_pairs(
    stratos: XrpcClient, viewer: Viewer, record: WrittenRecord, what: str
) -> list[NotFoundPair]:
    missing_rkey = random_tid()
    missing_uri = at_uri(record.did, record.collection, missing_rkey)
    return [
        NotFoundPair(
            f"{viewer.role}: getRecord of {what} / of a missing rkey",
            Probe(
                f"{viewer.role}: getRecord of {what}",
                get_record(stratos, viewer, record.did, record.rkey, record.collection),
            ),
            Probe(
                f"{viewer.role}: getRecord of missing rkey {missing_rkey}",
                get_record(stratos, viewer, record.did, missing_rkey, record.collection),
            ),
        ),
        NotFoundPair(
            f"{viewer.role}: hydrateRecord of {what} / of a missing rkey",
            Probe(
                f"{viewer.role}: hydrateRecord of {what}",
                hydrate_record(stratos, viewer, record.uri),
            ),
            Probe(
                f"{viewer.role}: hydrateRecord of missing rkey {missing_rkey}",
                hydrate_record(stratos, viewer, missing_uri),
            ),
            "zone.stratos.repo.hydrateRecord",
        ),
        NotFoundPair(
            f"{viewer.role}: sync.getRecord of {what} / of a missing rkey",
            Probe(
                f"{viewer.role}: sync.getRecord of {what}",
                sync_get_record(stratos, viewer, record.did, record.rkey, record.collection),
            ),
            Probe(
                f"{viewer.role}: sync.getRecord of missing rkey {missing_rkey}",
                sync_get_record(stratos, viewer, record.did, missing_rkey, record.collection),
            ),
            SYNC_GET_RECORD,
        ),
    ]


def probe_hidden_reads(
    stratos: XrpcClient,
    records: BoundaryRecords,
    viewer: Viewer,
    insider: Viewer,
    *,
    reverse: tuple[Viewer, WrittenRecord] | None = None,
) -> HiddenReadProbes:
    """``viewer`` (outside the shared domain, or unauthenticated) reads the shared record and a
    missing one with getRecord and hydrateRecord; ``insider`` reading the shared record, and an
    authenticated viewer reading the record without boundary, are the controls. ``reverse``
    adds another (viewer, hidden record) pair, e.g. the owner reading the outsider's record."""
    controls: list[Probe] = list(records.writes)
    pairs: list[NotFoundPair] = []
    shared = records.shared
    if shared is not None:
        controls.append(
            Probe(
                f"{insider.role}: getRecord of the record bounded to {records.shared_domain}",
                get_record(stratos, insider, shared.did, shared.rkey),
            )
        )
        if viewer.did is not None and records.open is not None:
            controls.append(
                Probe(
                    f"{viewer.role}: getRecord of the record without boundary",
                    get_record(stratos, viewer, records.open.did, records.open.rkey),
                )
            )
        pairs += _hidden_pairs(
            stratos, viewer, shared, f"the record bounded to {records.shared_domain}"
        )
    if reverse is not None:
        other, record = reverse
        pairs += _hidden_pairs(
            stratos, other, record, f"a record bounded to {', '.join(sorted(record.boundary))}"
        )
    return HiddenReadProbes(viewer.role, tuple(controls), tuple(pairs))


# --- STR-BND-04: listings and batch hydration leave hidden records out ------------------------


@dataclass(frozen=True)
class ListingProbes:
    """The owner's full listing (the truth), the viewer's listing paged with ``limit``, and
    hydrateRecords of hidden, visible and missing URIs as the viewer and as an insider."""

    owner: str
    viewer: str
    viewer_did: str | None
    viewer_domains: frozenset[str]
    limit: int
    writes: tuple[Probe, ...]
    owner_pages: tuple[Probe, ...]
    viewer_pages: tuple[Probe, ...]
    hidden: tuple[WrittenRecord, ...]
    visible: tuple[WrittenRecord, ...]
    missing_uri: str
    hydrate_viewer: Probe | None
    hydrate_insider: Probe | None

    def may_read(self, value: Any) -> bool:
        return may_read(self.viewer_did, self.viewer_domains, self.owner, value)


def probe_listing(
    stratos: XrpcClient,
    records: BoundaryRecords,
    owner: Viewer,
    viewer: Viewer,
    insider: Viewer,
    *,
    limit: int = LISTING_LIMIT,
) -> ListingProbes:
    if owner.did is None:
        raise ValueError("the owner must be authenticated")
    did = owner.did
    owner_pages = paginate(
        lambda cursor: list_records(stratos, owner, did, limit=100, cursor=cursor),
        f"{owner.role}: listRecords of its own {POST_COLLECTION} (limit 100)",
    )
    viewer_pages = paginate(
        lambda cursor: list_records(stratos, viewer, did, limit=limit, cursor=cursor),
        f"{viewer.role}: listRecords of the owner's {POST_COLLECTION} (limit {limit})",
    )
    candidates = [r for r in (records.shared, records.open, *records.listing) if r is not None]
    hidden = tuple(r for r in candidates if not viewer.may_read(did, r.value))
    visible = tuple(r for r in candidates if viewer.may_read(did, r.value))
    missing_uri = at_uri(did, POST_COLLECTION, random_tid())
    uris = [r.uri for r in hidden] + [r.uri for r in visible] + [missing_uri]
    random.shuffle(uris)
    hydrate_viewer = hydrate_insider = None
    if candidates:
        hydrate_viewer = Probe(
            f"{viewer.role}: hydrateRecords of {len(hidden)} hidden, {len(visible)} visible "
            "and 1 missing URI",
            hydrate_records(stratos, viewer, uris),
        )
        hydrate_insider = Probe(
            f"{insider.role}: hydrateRecords of the same URIs",
            hydrate_records(stratos, insider, uris),
        )
    return ListingProbes(
        did,
        viewer.role,
        viewer.did,
        viewer.domains,
        limit,
        records.writes,
        owner_pages,
        viewer_pages,
        hidden,
        visible,
        missing_uri,
        hydrate_viewer,
        hydrate_insider,
    )


# --- STR-BND-05: sync.getRecord applies the rule ----------------------------------------------


@dataclass(frozen=True)
class SyncRecordProbes:
    """sync.getRecord of the shared record: the owner's (control) and the peer's must be CARs;
    the outsider's and the unauthenticated caller's must not be (each paired with the answer
    for a missing record, as evidence)."""

    controls: tuple[Probe, ...]
    insiders: tuple[Probe, ...]
    pairs: tuple[NotFoundPair, ...]


def probe_sync_records(
    stratos: XrpcClient,
    records: BoundaryRecords,
    owner: Viewer,
    peer: Viewer,
    outsiders: Sequence[Viewer],
) -> SyncRecordProbes:
    controls: list[Probe] = list(records.writes)
    insiders: list[Probe] = []
    pairs: list[NotFoundPair] = []
    rec = records.shared
    if rec is not None:
        what = f"the record bounded to {records.shared_domain}"
        controls.append(
            Probe(
                f"{owner.role}: sync.getRecord of {what}",
                sync_get_record(stratos, owner, rec.did, rec.rkey),
            )
        )
        insiders.append(
            Probe(
                f"{peer.role}: sync.getRecord of {what}",
                sync_get_record(stratos, peer, rec.did, rec.rkey),
            )
        )
        for viewer in outsiders:
            missing = random_tid()
            pairs.append(
                NotFoundPair(
                    f"{viewer.role}: sync.getRecord of {what} / of a missing rkey",
                    Probe(
                        f"{viewer.role}: sync.getRecord of {what}",
                        sync_get_record(stratos, viewer, rec.did, rec.rkey),
                    ),
                    Probe(
                        f"{viewer.role}: sync.getRecord of missing rkey {missing}",
                        sync_get_record(stratos, viewer, rec.did, missing),
                    ),
                    SYNC_GET_RECORD,
                )
            )
    return SyncRecordProbes(tuple(controls), tuple(insiders), tuple(pairs))


# --- STR-BND-06: boundaries the writer may not use --------------------------------------------


@dataclass(frozen=True)
class BoundaryWriteProbes:
    """A write bounded to the writer's own domain (control), to one of this service's domains
    the writer is not enrolled in (None when no such domain is known), and to another
    service's domain."""

    control: Probe
    forbidden: Probe | None
    mismatch: Probe
    forbidden_domain: str | None
    mismatch_domain: str


def foreign_service_domain(name: str = "engineering") -> str:
    return f"did:web:other.example/{name}"


def probe_boundary_writes(
    stratos: XrpcClient,
    writer: Viewer,
    own_domain: str,
    forbidden_domain: str | None,
    mismatch_domain: str | None = None,
) -> BoundaryWriteProbes:
    tag = secrets.token_hex(4)
    mismatch_domain = mismatch_domain or foreign_service_domain(own_domain.rsplit("/", 1)[-1])
    control = Probe(
        f"{writer.role}: createRecord bounded to its own domain {own_domain}",
        create_record(stratos, writer, post(f"bnd-06 {tag} control", [own_domain])),
    )
    forbidden = None
    if forbidden_domain is not None:
        forbidden = Probe(
            f"{writer.role}: createRecord bounded to {forbidden_domain} (this service's domain, "
            "writer not enrolled in it)",
            create_record(stratos, writer, post(f"bnd-06 {tag} forbidden", [forbidden_domain])),
        )
    mismatch = Probe(
        f"{writer.role}: createRecord bounded to {mismatch_domain} (another service's domain)",
        create_record(stratos, writer, post(f"bnd-06 {tag} mismatch", [mismatch_domain])),
    )
    return BoundaryWriteProbes(control, forbidden, mismatch, forbidden_domain, mismatch_domain)


# --- STR-BND-07: timing ----------------------------------------------------------------------


@dataclass(frozen=True)
class TimingSamples:
    """Latencies (seconds, each response's own round trip) of interleaved "hidden" and
    "nonexistent" reads by the same viewer, after ``warmup`` discarded pairs."""

    viewer: str
    hidden_s: tuple[float, ...]
    missing_s: tuple[float, ...]
    hidden_statuses: Mapping[int, int]
    missing_statuses: Mapping[int, int]
    examples: tuple[Probe, ...]
    controls: tuple[Probe, ...]


def _latency(response: httpx.Response, started: float) -> float:
    try:
        return response.elapsed.total_seconds()
    except RuntimeError:  # not closed yet (a streamed response); fall back to the wall clock
        return time.perf_counter() - started


def sample_not_found_timing(
    stratos: XrpcClient,
    viewer: Viewer,
    hidden: Sequence[WrittenRecord],
    *,
    samples: int = 200,
    warmup: int = 10,
    budget_s: float = 300.0,
    controls: Sequence[Probe] = (),
) -> TimingSamples:
    """``samples`` getRecord calls each for hidden records (cycling through ``hidden``) and for
    fresh random rkeys in the same repo, interleaved in random order pair by pair."""
    if not hidden:
        raise ValueError("no hidden record to time")
    hidden_s: list[float] = []
    missing_s: list[float] = []
    hidden_statuses: dict[int, int] = {}
    missing_statuses: dict[int, int] = {}
    examples: list[Probe] = []
    deadline = time.monotonic() + budget_s
    for index in range(samples + warmup):
        if time.monotonic() > deadline:
            break
        record = hidden[index % len(hidden)]
        order = ["hidden", "missing"]
        random.shuffle(order)
        for kind in order:
            rkey = record.rkey if kind == "hidden" else random_tid()
            started = time.perf_counter()
            response = get_record(stratos, viewer, record.did, rkey, record.collection)
            latency = _latency(response, started)
            if index < warmup:
                continue
            if kind == "hidden":
                hidden_s.append(latency)
                hidden_statuses[response.status_code] = (
                    hidden_statuses.get(response.status_code, 0) + 1
                )
            else:
                missing_s.append(latency)
                missing_statuses[response.status_code] = (
                    missing_statuses.get(response.status_code, 0) + 1
                )
            if index == warmup:
                examples.append(Probe(f"{viewer.role}: getRecord of a {kind} record", response))
    return TimingSamples(
        viewer.role,
        tuple(hidden_s),
        tuple(missing_s),
        hidden_statuses,
        missing_statuses,
        tuple(examples),
        tuple(controls),
    )


# --- STR-BND-08: the AppView feed ---------------------------------------------------------------


def timeline_uris(response: httpx.Response) -> list[str]:
    body = body_object(response)
    feed = body.get("feed") if body is not None else None
    uris: list[str] = []
    for item in feed if isinstance(feed, list) else []:
        view = item.get("post") if isinstance(item, Mapping) else None
        uri = view.get("uri") if isinstance(view, Mapping) else None
        if isinstance(uri, str):
            uris.append(uri)
    return uris


def timeline_contains(
    appview: XrpcClient, viewer: Viewer, uri: str, *, max_pages: int = 10
) -> tuple[bool, tuple[Probe, ...]]:
    """Whether ``uri`` is in the viewer's timeline, paging (100 a page) until it is found, the
    feed ends, a page is refused, or ``max_pages``."""
    pages: list[Probe] = []
    cursor: str | None = None
    for number in range(1, max_pages + 1):
        response = get_timeline(appview, viewer, limit=100, cursor=cursor)
        pages.append(Probe(f"{viewer.role}: getTimeline, page {number}", response))
        if uri in timeline_uris(response):
            return True, tuple(pages)
        body = body_object(response)
        next_cursor = body.get("cursor") if body is not None else None
        if not timeline_uris(response) or not isinstance(next_cursor, str) or not next_cursor:
            break
        if next_cursor == cursor:
            break
        cursor = next_cursor
    return False, tuple(pages)


@dataclass(frozen=True)
class IndexingProbes:
    """The owner's post, the peer's polls until it appeared (``lag_s`` after the write was
    acknowledged, None if never within ``window_s``), and the outsider's polls over the same
    time and ``outsider_extra_s`` more."""

    window_s: float
    post: Probe
    uri: str | None
    lag_s: float | None
    peer_polls: tuple[Probe, ...]
    outsider_polls: tuple[Probe, ...]
    outsider_watch_s: float
    leaked: Probe | None


def probe_indexing(
    stratos: XrpcClient,
    appview: XrpcClient,
    owner: Viewer,
    peer: Viewer,
    outsider: Viewer,
    shared_domain: str,
    *,
    window_s: float,
    interval_s: float = 0.1,
    keep_polls: int = 6,
) -> IndexingProbes:
    """The owner posts (createdAt now) bounded to ``shared_domain``; peer and outsider poll their
    timelines in turn. Polling stops when the peer saw it and the outsider has been watched a
    little longer (the peer's lag again, at least one second), or at ``window_s``."""
    value = post(f"bnd-08 {secrets.token_hex(4)}", [shared_domain], created_at=now_iso())
    probe, record = write_post(
        stratos, owner, value, f"{owner.role}: createRecord bounded to {shared_domain}"
    )
    written_at = time.monotonic()
    if record is None:
        return IndexingProbes(window_s, probe, None, None, (), (), 0.0, None)
    peer_polls: list[Probe] = []
    outsider_polls: list[Probe] = []
    lag: float | None = None
    leaked: Probe | None = None
    deadline = written_at + window_s
    watch_until = deadline
    rounds = int(window_s * 2 / interval_s) + 100  # a hard bound besides the clock
    for _ in range(rounds):
        now = time.monotonic()
        if lag is None and now > deadline:
            break
        if lag is not None and now > watch_until:
            break
        if lag is None:
            found, pages = timeline_contains(appview, peer, record.uri)
            peer_polls.extend(pages)
            if found:
                lag = time.monotonic() - written_at
                watch_until = min(written_at + lag + max(lag, 1.0), deadline + 1.0)
            elif any(not is_success(p.response) for p in pages):
                break  # the peer's feed is refused: nothing to wait for
        seen, pages = timeline_contains(appview, outsider, record.uri)
        outsider_polls.extend(pages)
        if seen:
            leaked = next(p for p in pages if record.uri in timeline_uris(p.response))
            break
        if any(not is_success(p.response) for p in pages):
            break
        time.sleep(interval_s)
    watched = time.monotonic() - written_at
    return IndexingProbes(
        window_s,
        probe,
        record.uri,
        lag,
        _keep(peer_polls, keep_polls),
        _keep(outsider_polls, keep_polls),
        watched,
        leaked,
    )


def _keep(polls: Sequence[Probe], count: int) -> tuple[Probe, ...]:
    """The first and the last polls (what a report needs), not hundreds of identical ones."""
    if len(polls) <= count:
        return tuple(polls)
    return (*polls[:1], *polls[-(count - 1) :])
