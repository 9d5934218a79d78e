"""Stratos's boundary rule (STR-BND-01..08): one small check per requirement.

Each check takes what a ``conformance.scenarios.stratos_access`` probe returned and answers
``Failure | None``. Every probe set carries controls (the records were written, a viewer inside
the boundary reads them, the viewer's own access works); a check first fails on a refused
control, since refusals prove nothing when everything is refused. Messages quote probe
descriptions, statuses, XRPC error names, URIs and rkeys — never tokens.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from conformance.checks.base import Failure
from conformance.scenarios.base import Probe, describe_response, is_success, json_body
from conformance.scenarios.stratos_access import (
    RECORD_NOT_FOUND,
    SYNC_GET_RECORD,
    BoundaryWriteProbes,
    HiddenReadProbes,
    IndexingProbes,
    ListingProbes,
    NotFoundPair,
    SyncRecordProbes,
    TimingSamples,
    VisibleReads,
    body_object,
    is_car,
    median,
    percentile,
    response_differences,
    split_at_uri,
    timeline_uris,
)

INVALID_RECORD = "InvalidRecord"
FORBIDDEN_BOUNDARY = "ForbiddenBoundary"
SERVICE_MISMATCH = "ServiceMismatch"
TIMING_THRESHOLD = 0.20
MIN_TIMING_SAMPLES = 200
MAX_LISTED_PROBLEMS = 6


def _first_refused(requirement: str, controls: Iterable[Probe]) -> Failure | None:
    for probe in controls:
        if not is_success(probe.response):
            return Failure(
                requirement,
                "a correct request was refused, so the rejections prove nothing",
                f"control request ({probe.case}): expected 2xx, "
                f"got {describe_response(probe.response)}",
                (probe.response,),
            )
    return None


def _error_name(response: httpx.Response) -> str | None:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _joined(problems: Sequence[str]) -> str:
    shown = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "; ".join(shown)


# --- STR-BND-01 ----------------------------------------------------------------------------------


def check_visible_reads(probes: VisibleReads) -> Failure | None:
    """STR-BND-01: the owner and same-domain viewers read the bounded record with getRecord and
    hydrateRecord (and any enrolled viewer reads a record without boundary): 200, the same
    URI, CID and value as written."""
    if (failure := _first_refused("STR-BND-01", probes.writes)) is not None:
        return failure
    for read in probes.reads:
        response = read.probe.response
        body = body_object(response)
        if body is None:
            return Failure(
                "STR-BND-01",
                "a viewer allowed by the boundary could not read the record",
                f"{read.probe.case}: expected 200 with the record, "
                f"got {describe_response(response)}",
                (response,),
            )
        problems = []
        if body.get("uri") != read.record.uri:
            problems.append(f"uri {body.get('uri')!r}, expected {read.record.uri}")
        if read.record.cid is not None and body.get("cid") != read.record.cid:
            problems.append(f"cid {body.get('cid')!r}, expected {read.record.cid}")
        if body.get("value") != dict(read.record.value):
            problems.append("value is not the record as written")
        if problems:
            return Failure(
                "STR-BND-01",
                "a record read back differs from the record written",
                f"{read.probe.case}: " + "; ".join(problems),
                (response,),
            )
    return None


# --- STR-BND-02 / STR-BND-03 ---------------------------------------------------------------------


def _pair_problem(pair: NotFoundPair) -> tuple[str, str] | None:
    """(title, message) when the hidden answer is not the missing record's 404."""
    hidden, missing = pair.hidden.response, pair.missing.response
    if is_success(hidden):
        return (
            "a record outside the caller's boundary was served",
            f"{pair.hidden.case}: expected 404 {RECORD_NOT_FOUND}, got the record "
            f"({describe_response(hidden)})",
        )
    if hidden.status_code != 404 or _error_name(hidden) != RECORD_NOT_FOUND:
        title = (
            "a hidden record answers 403 instead of 404"
            if hidden.status_code == 403
            else f"a hidden record does not answer 404 {RECORD_NOT_FOUND}"
        )
        return title, (
            f"{pair.hidden.case}: expected 404 {RECORD_NOT_FOUND}, got {describe_response(hidden)}"
        )
    diffs = response_differences(missing, hidden)
    if diffs:
        return (
            "a hidden record's 404 differs from a missing record's 404",
            f"{pair.case}: the answers differ ({_joined(diffs)}; first is the missing record's, "
            "second the hidden one's)",
        )
    return None


def _judge_hidden(requirement: str, probes: HiddenReadProbes) -> Failure | None:
    if (failure := _first_refused(requirement, probes.controls)) is not None:
        return failure
    for pair in probes.pairs:
        hidden = pair.hidden.response
        if pair.method == SYNC_GET_RECORD and (is_success(hidden) or is_car(hidden)):
            continue  # a CAR given away is STR-BND-05's failure; here only the refusal's shape
        problem = _pair_problem(pair)
        if problem is not None:
            title, message = problem
            return Failure(
                requirement, title, message, (pair.hidden.response, pair.missing.response)
            )
    return None


def check_hidden_like_missing(probes: HiddenReadProbes) -> Failure | None:
    """STR-BND-02: a viewer sharing no domain gets 404 RecordNotFound for the record — the same
    status, error, message, body fields and headers (apart from volatile ones) as for a record
    that does not exist — from getRecord, hydrateRecord and sync.getRecord (whether
    sync.getRecord hands out the CAR is STR-BND-05's)."""
    return _judge_hidden("STR-BND-02", probes)


def check_unauthenticated_like_missing(probes: HiddenReadProbes) -> Failure | None:
    """STR-BND-03: an unauthenticated caller gets that same 404 for a bounded record."""
    return _judge_hidden("STR-BND-03", probes)


# --- STR-BND-04 ----------------------------------------------------------------------------------


def _records_of(response: httpx.Response) -> list[Mapping[str, Any]]:
    body = body_object(response)
    records = body.get("records") if body is not None else None
    return [r for r in records if isinstance(r, Mapping)] if isinstance(records, list) else []


def _uris(items: Any) -> list[str]:
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("uri"), str):
            out.append(item["uri"])
    return out


def _cursor_texts(cursor: str) -> list[str]:
    """The cursor as sent, and decoded when it is base64 (url-safe or standard) of UTF-8."""
    texts = [cursor]
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            texts.append(decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
        except (binascii.Error, ValueError):
            continue
    return texts


def _listing_problems(probes: ListingProbes) -> tuple[list[str], list[httpx.Response]]:
    problems: list[str] = []
    deciding: list[httpx.Response] = []
    hidden_uris = {r.uri for r in probes.hidden}
    for page in probes.owner_pages:
        for record in _records_of(page.response):
            uri = record.get("uri")
            if isinstance(uri, str) and not probes.may_read(record.get("value")):
                hidden_uris.add(uri)
    hidden_rkeys = {parts[2] for u in hidden_uris if (parts := split_at_uri(u)) is not None}

    listed: set[str] = set()
    sizes: list[int] = []
    for page in probes.viewer_pages:
        response = page.response
        if not is_success(response):
            problems.append(
                f"{page.case}: expected 200 (hidden records left out), "
                f"got {describe_response(response)}"
            )
            deciding.append(response)
            break
        records = _records_of(response)
        sizes.append(len(records))
        for record in records:
            uri = record.get("uri")
            if not isinstance(uri, str):
                continue
            listed.add(uri)
            if uri in hidden_uris or not probes.may_read(record.get("value")):
                problems.append(f"{page.case}: lists {uri}, which the viewer may not read")
                deciding.append(response)
        body = body_object(response)
        cursor = body.get("cursor") if body is not None else None
        if isinstance(cursor, str) and cursor:
            texts = _cursor_texts(cursor)
            revealed = sorted(k for k in hidden_rkeys if any(k in t for t in texts))
            if revealed:
                problems.append(
                    f"{page.case}: the cursor names hidden rkey {revealed[0]} "
                    "(it reveals where hidden records are)"
                )
                deciding.append(response)
    for index, size in enumerate(sizes):
        if size < probes.limit and any(sizes[index + 1 :]):
            problems.append(
                f"page {index + 1} of the {probes.viewer} listing (limit {probes.limit}) held "
                f"{size} records although more followed: page sizes reveal hidden records"
            )
            deciding.append(probes.viewer_pages[index].response)
            break
    if not problems:
        absent = [r.uri for r in probes.visible if r.uri not in listed]
        if absent and sizes and len(sizes) == len(probes.viewer_pages):
            problems.append(
                f"the {probes.viewer} listing leaves out {len(absent)} record(s) it may read "
                f"(e.g. {absent[0]}): only hidden records may be left out"
            )
            deciding.append(probes.viewer_pages[-1].response)
    return problems, deciding


def _hydrate_problems(probes: ListingProbes) -> list[str]:
    probe = probes.hydrate_viewer
    if probe is None:
        return []
    body = body_object(probe.response)
    if body is None:
        return [f"{probe.case}: expected 200, got {describe_response(probe.response)}"]
    returned = set(_uris(body.get("records")))
    not_found = set(_uris(body.get("notFound")))
    blocked = set(_uris(body.get("blocked")))
    problems: list[str] = []
    for record in probes.hidden:
        if record.uri in returned:
            problems.append(f"{probe.case}: returns hidden record {record.uri}")
        if record.uri in blocked:
            problems.append(
                f"{probe.case}: lists hidden record {record.uri} in blocked "
                "(hidden records belong in notFound, like missing ones)"
            )
        elif record.uri not in not_found:
            problems.append(f"{probe.case}: hidden record {record.uri} is not in notFound")
    if probes.missing_uri not in not_found:
        problems.append(f"{probe.case}: the missing record {probes.missing_uri} is not in notFound")
    for record in probes.visible:
        if record.uri not in returned:
            problems.append(f"{probe.case}: leaves out {record.uri}, which the viewer may read")
    return problems


def check_listing_hides(probes: ListingProbes) -> Failure | None:
    """STR-BND-04: listRecords and hydrateRecords leave out what the viewer may not see —
    hidden records in ``notFound`` (never ``blocked``), pages full until the last one, cursors
    that name no hidden record."""
    controls = [*probes.writes, *probes.owner_pages]
    if probes.hydrate_insider is not None:
        controls.append(probes.hydrate_insider)
    if (failure := _first_refused("STR-BND-04", controls)) is not None:
        return failure
    if probes.hydrate_insider is not None:
        body = body_object(probes.hydrate_insider.response) or {}
        returned = set(_uris(body.get("records")))
        absent = [r.uri for r in probes.hidden if r.uri not in returned]
        if absent:
            return Failure(
                "STR-BND-04",
                "a viewer inside the boundary could not hydrate the bounded records",
                f"{probes.hydrate_insider.case}: {absent[0]} is not returned, so leaving it out "
                "for the outside viewer proves nothing",
                (probes.hydrate_insider.response,),
            )
    problems, deciding = _listing_problems(probes)
    problems += _hydrate_problems(probes)
    if probes.hydrate_viewer is not None and len(deciding) < len(problems):
        deciding.append(probes.hydrate_viewer.response)
    if not problems:
        return None
    return Failure(
        "STR-BND-04",
        "a listing or batch hydration reveals records outside the viewer's boundary",
        _joined(problems),
        tuple(dict.fromkeys(deciding)),
    )


# --- STR-BND-05 ----------------------------------------------------------------------------------


def check_sync_record_boundary(probes: SyncRecordProbes) -> Failure | None:
    """STR-BND-05: ``com.atproto.sync.getRecord`` applies the boundary rule — the owner and
    viewers inside get the CAR, no one else gets it (nor any 2xx). The shape of the refusal
    (404, like a missing record) is judged with the other reads by STR-BND-02/03."""
    if (failure := _first_refused("STR-BND-05", probes.controls)) is not None:
        return failure
    for probe in probes.insiders:
        if not is_success(probe.response):
            return Failure(
                "STR-BND-05",
                "a viewer inside the boundary was refused the record's CAR",
                f"{probe.case}: expected 200 with a CAR, got {describe_response(probe.response)}",
                (probe.response,),
            )
    for pair in probes.pairs:
        hidden = pair.hidden.response
        if is_success(hidden) or is_car(hidden):
            return Failure(
                "STR-BND-05",
                "sync.getRecord gave a record's CAR to a caller outside its boundary",
                f"{pair.hidden.case}: expected a refusal (404 {RECORD_NOT_FOUND}), got "
                f"{describe_response(hidden)} ({len(hidden.content)} bytes)",
                (hidden,),
            )
    return None


# --- STR-BND-06 ----------------------------------------------------------------------------------


def check_boundary_writes(probes: BoundaryWriteProbes) -> Failure | None:
    """STR-BND-06: a boundary naming this service's domain the writer is not enrolled in →
    400 InvalidRecord, reason ForbiddenBoundary; another service's domain → 400 InvalidRecord,
    reason ServiceMismatch."""
    if (failure := _first_refused("STR-BND-06", [probes.control])) is not None:
        return failure
    cases = [(probes.forbidden, FORBIDDEN_BOUNDARY), (probes.mismatch, SERVICE_MISMATCH)]
    for probe, reason in cases:
        if probe is None:
            continue
        response = probe.response
        body = json_body(response)
        got_reason = body.get("reason") if isinstance(body, dict) else None
        if (
            response.status_code == 400
            and _error_name(response) == INVALID_RECORD
            and got_reason == reason
        ):
            continue
        got = describe_response(response)
        if response.status_code == 400 and _error_name(response) == INVALID_RECORD:
            got += f" with reason {got_reason!r}"
        title = (
            "a write with a boundary the writer may not use was accepted"
            if is_success(response)
            else f"a boundary the writer may not use is not refused with {reason}"
        )
        return Failure(
            "STR-BND-06",
            title,
            f"{probe.case}: expected 400 {INVALID_RECORD} with reason {reason!r}, got {got}",
            (response,),
        )
    return None


# --- STR-BND-07 ----------------------------------------------------------------------------------


def timing_summary(samples: TimingSamples) -> dict[str, float]:
    """Median and p95 (milliseconds) of each distribution."""
    return {
        "hidden_median_ms": median(samples.hidden_s) * 1000,
        "hidden_p95_ms": percentile(samples.hidden_s, 95) * 1000,
        "missing_median_ms": median(samples.missing_s) * 1000,
        "missing_p95_ms": percentile(samples.missing_s, 95) * 1000,
    }


def relative_difference(hidden: float, missing: float) -> float:
    """|hidden - missing| relative to the nonexistent-record median (the baseline)."""
    if missing <= 0:
        return 0.0 if hidden <= 0 else float("inf")
    return abs(hidden - missing) / missing


def check_timing(
    samples: TimingSamples,
    *,
    threshold: float = TIMING_THRESHOLD,
    min_samples: int = MIN_TIMING_SAMPLES,
) -> Failure | None:
    """STR-BND-07: the median latencies of "hidden" and "nonexistent" 404s (≥ ``min_samples``
    each, interleaved) differ by less than ``threshold`` (20 %)."""
    if (failure := _first_refused("STR-BND-07", samples.controls)) is not None:
        return failure
    count = min(len(samples.hidden_s), len(samples.missing_s))
    if count < min_samples:
        raise ValueError(f"only {count} timing samples, {min_samples} needed")
    summary = timing_summary(samples)
    hidden, missing = summary["hidden_median_ms"], summary["missing_median_ms"]
    difference = relative_difference(hidden, missing)
    if difference < threshold:
        return None
    slower = "slower" if hidden > missing else "faster"
    return Failure(
        "STR-BND-07",
        "timing reveals whether a hidden record exists",
        f"{samples.viewer}: over {count} interleaved samples each, hidden records answer in "
        f"{hidden:.2f} ms median (p95 {summary['hidden_p95_ms']:.2f} ms), missing ones in "
        f"{missing:.2f} ms (p95 {summary['missing_p95_ms']:.2f} ms): {difference:.0%} {slower}, "
        f"expected less than {threshold:.0%} apart",
        tuple(p.response for p in samples.examples),
    )


# --- STR-BND-08 ----------------------------------------------------------------------------------


def check_indexing(probes: IndexingProbes) -> Failure | None:
    """STR-BND-08: a viewer sharing the post's domain sees it in the AppView feed within the
    indexing window; a viewer sharing none never does."""
    if (failure := _first_refused("STR-BND-08", [probes.post])) is not None:
        return failure
    if probes.leaked is not None:
        return Failure(
            "STR-BND-08",
            "the AppView shows a bounded post to a viewer outside its boundary",
            f"{probes.leaked.case}: the feed contains {probes.uri}, which the viewer may not read",
            (probes.leaked.response,),
        )
    for poll in probes.outsider_polls:
        if not is_success(poll.response):
            return Failure(
                "STR-BND-08",
                "the outside viewer's timeline was refused, so its absence proves nothing",
                f"{poll.case}: expected 200, got {describe_response(poll.response)}",
                (poll.response,),
            )
    if probes.lag_s is not None:
        return None
    last = probes.peer_polls[-1] if probes.peer_polls else None
    if last is not None and not is_success(last.response):
        detail = f"the last poll ({last.case}) answered {describe_response(last.response)}"
    else:
        seen = len(timeline_uris(last.response)) if last is not None else 0
        detail = f"the last poll listed {seen} posts without it"
    return Failure(
        "STR-BND-08",
        "a viewer sharing the post's domain did not see it within the indexing window",
        f"{probes.uri} did not appear in the peer's timeline within {probes.window_s:g} s; "
        + detail,
        tuple(p.response for p in ([last] if last is not None else [])),
    )
