"""XRPC probes (XRPC-01..04): unknown methods and lexicon-violating input.

The lexicon-violation probe is data-driven: a suite passes a list of ``XrpcCall``s (nsid, query
params and/or JSON body, and *why* the input is wrong) plus a few valid *control* calls that must
succeed. ``pds_lexicon_violations``/``pds_lexicon_controls`` are the identity suite's list for
the PDS methods; later suites pass their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

UNKNOWN_NSID = "com.example.atconform.doesNotExist"
# five 60-character labels: every label is legal, the whole (305 characters) is over 253
_OVERLONG_HANDLE = ".".join(ch * 60 for ch in "abcde") + ".test"
_NO_BODY = object()


def xrpc_url(base_url: str, nsid: str) -> str:
    return f"{base_url.rstrip('/')}/xrpc/{nsid}"


def nsid_of(response: httpx.Response) -> str | None:
    """The NSID a response answered, read from its request's ``/xrpc/<nsid>`` path."""
    path = response.request.url.path
    if "/xrpc/" not in path:
        return None
    return path.rsplit("/xrpc/", 1)[1].strip("/") or None


@dataclass(frozen=True)
class XrpcCall:
    """One XRPC request described as data.

    ``params`` are query parameters as (name, value) pairs (a name may repeat). A ``body`` (any
    JSON value) or ``raw`` bytes make it a POST unless ``method`` says otherwise. ``why`` says
    what is wrong with the input (or, for controls, what the call is).
    """

    nsid: str
    why: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = _NO_BODY
    raw: bytes | None = None
    content_type: str | None = None
    method: str | None = None

    @property
    def http_method(self) -> str:
        if self.method is not None:
            return self.method.upper()
        return "POST" if self.body is not _NO_BODY or self.raw is not None else "GET"

    @property
    def case(self) -> str:
        return f"{self.http_method} {self.nsid} ({self.why})"


def send_call(
    http: httpx.Client, base_url: str, call: XrpcCall, *, auth: httpx.Auth | None = None
) -> httpx.Response:
    headers: dict[str, str] = {}
    content: bytes | None = None
    if call.raw is not None:
        content = call.raw
        headers["Content-Type"] = call.content_type or "application/octet-stream"
    elif call.body is not _NO_BODY:
        content = json.dumps(call.body).encode("utf-8")
        headers["Content-Type"] = call.content_type or "application/json"
    url = xrpc_url(base_url, call.nsid)
    request = http.build_request(
        call.http_method, url, params=list(call.params), headers=headers, content=content
    )
    return http.send(request, auth=auth) if auth is not None else http.send(request)


@dataclass(frozen=True)
class CallProbe:
    call: XrpcCall
    response: httpx.Response

    @property
    def case(self) -> str:
        return self.call.case


# --- XRPC-01 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnknownMethodProbes:
    nsid: str
    get: CallProbe
    post: CallProbe


def probe_unknown_method(
    http: httpx.Client, base_url: str, *, nsid: str = UNKNOWN_NSID, auth: httpx.Auth | None = None
) -> UnknownMethodProbes:
    """GET and POST (JSON body ``{}``) an NSID no service implements."""
    get = XrpcCall(nsid, "unknown method, as a query")
    post = XrpcCall(nsid, "unknown method, as a procedure", body={})
    return UnknownMethodProbes(
        nsid,
        CallProbe(get, send_call(http, base_url, get, auth=auth)),
        CallProbe(post, send_call(http, base_url, post, auth=auth)),
    )


# --- XRPC-03 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LexiconViolationProbes:
    controls: tuple[CallProbe, ...]
    cases: tuple[CallProbe, ...]


def probe_lexicon_violations(
    http: httpx.Client,
    base_url: str,
    cases: Sequence[XrpcCall],
    *,
    controls: Sequence[XrpcCall] = (),
    auth: httpx.Auth | None = None,
) -> LexiconViolationProbes:
    """Send the valid ``controls`` then every violating case; returns what came back."""
    return LexiconViolationProbes(
        tuple(CallProbe(c, send_call(http, base_url, c, auth=auth)) for c in controls),
        tuple(CallProbe(c, send_call(http, base_url, c, auth=auth)) for c in cases),
    )


def pds_lexicon_controls(did: str) -> tuple[XrpcCall, ...]:
    """Valid unauthenticated PDS calls for ``did`` (an existing account) that must succeed."""
    return (
        XrpcCall("com.atproto.repo.describeRepo", "valid repo DID", (("repo", did),)),
        XrpcCall(
            "com.atproto.repo.listRecords",
            "valid repo and collection",
            (("repo", did), ("collection", "app.bsky.feed.post"), ("limit", "5")),
        ),
    )


def pds_lexicon_violations(did: str) -> tuple[XrpcCall, ...]:
    """Lexicon-violating calls to unauthenticated PDS methods (``did``: an existing account)."""
    list_records = "com.atproto.repo.listRecords"
    collection = ("collection", "app.bsky.feed.post")
    return (
        XrpcCall(
            "com.atproto.repo.describeRepo",
            "repo is neither a DID nor a handle",
            (("repo", "not-a-did"),),
        ),
        XrpcCall("com.atproto.repo.describeRepo", "required param repo missing"),
        XrpcCall(
            "com.atproto.repo.describeRepo",
            "repo is a handle longer than 253 characters",
            (("repo", _OVERLONG_HANDLE),),
        ),
        XrpcCall(
            list_records,
            "collection is not an NSID",
            (("repo", did), ("collection", "not an nsid")),
        ),
        XrpcCall(
            list_records, "limit is not an integer", (("repo", did), collection, ("limit", "abc"))
        ),
        XrpcCall(
            list_records,
            "limit above the maximum of 100",
            (("repo", did), collection, ("limit", "1000")),
        ),
        XrpcCall(
            list_records,
            "reverse is not a boolean",
            (("repo", did), collection, ("reverse", "maybe")),
        ),
        XrpcCall(
            "com.atproto.repo.getRecord",
            "required param rkey missing",
            (("repo", did), collection),
        ),
        XrpcCall(
            "com.atproto.sync.getRecord",
            "did is not a DID",
            (("did", "not-a-did"), collection, ("rkey", "3jzfcijpj2z2a")),
        ),
        XrpcCall(
            "com.atproto.sync.getRecord",
            "required param rkey missing",
            (("did", did), collection),
        ),
        XrpcCall("com.atproto.sync.getLatestCommit", "did is not a DID", (("did", "not-a-did"),)),
        XrpcCall(
            "com.atproto.sync.getBlob", "cid is not a CID", (("did", did), ("cid", "not-a-cid"))
        ),
        XrpcCall(
            "com.atproto.identity.resolveHandle",
            "handle is not a handle",
            (("handle", "bad handle!"),),
        ),
        XrpcCall(
            "com.atproto.server.createSession",
            "required input identifier missing",
            body={"password": "x"},
        ),
        XrpcCall(
            "com.atproto.server.createSession",
            "identifier is a number, not a string",
            body={"identifier": 12345, "password": "x"},
        ),
        XrpcCall(
            "com.atproto.server.createSession",
            "body is not JSON",
            raw=b"{not json",
            content_type="application/json",
        ),
    )
