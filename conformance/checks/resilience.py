"""Verdicts on the fault scenarios (``conformance.scenarios.resilience``): what a service promised
before a pause or a kill must still hold afterwards.

- STR-REPO-01 / PDS-05: every acknowledged write is still there, with the CID it was
  acknowledged with; no write is stored twice.
- STR-VER-02: the repository exported after the outage verifies and holds every acknowledged
  record (``checks.stratos_repo.check_repo_export_complete`` does the judging).
- STR-VER-03 (and PDS-05's "increasing TID revs"): a commit acknowledged before another write
  was even sent has the smaller rev, per writer and across writers, and across a restart
  (``checks.stratos_repo.check_revs_increase`` judges each chain).

A write whose outcome is *unknown* (no answer) may be stored once or not at all; it is never
counted as lost, and only counted as a duplicate when it appears more than once. Messages quote
markers, rkeys, CIDs, revs and status codes — never tokens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

import httpx

from conformance.checks.base import Failure
from conformance.checks.stratos_repo import (
    ListedRecord,
    check_repo_export_complete,
    check_revs_increase,
    listed_records,
)
from conformance.scenarios.base import body_of, describe_response, is_success
from conformance.scenarios.resilience import (
    BurstResult,
    BurstWrite,
    MarkedWrite,
    Outcome,
    RestartResult,
    ServiceSurvival,
)
from conformance.scenarios.stratos_repo import ExportProbes, RevSequence, RevStep
from lexicons.syntax import is_valid_tid

# A failure quotes at most this many writes (and keeps their answers as evidence).
MAX_QUOTED = 5


def _quoted(items: Sequence[str]) -> str:
    shown = "; ".join(items[:MAX_QUOTED])
    more = len(items) - MAX_QUOTED
    return shown + (f"; and {more} more" if more > 0 else "")


def _answers(writes: Iterable[BurstWrite]) -> tuple[httpx.Response, ...]:
    return tuple(w.probe.response for w in writes if w.probe is not None)[:MAX_QUOTED]


def _listing_failure(requirement: str, result: BurstResult) -> Failure | None:
    if listed_records(result.listed) is not None:
        return None
    page = next((p for p in result.listed if not is_success(p.response)), result.listed[0])
    return Failure(
        requirement,
        "the records cannot be listed after the outage",
        f"{page.case}: expected 200 with records, got {describe_response(page.response)}",
        (page.response,),
    )


# --- STR-REPO-01: acknowledged writes are kept, once ------------------------------------------


def check_acknowledged_writes_kept(result: BurstResult) -> Failure | None:
    """STR-REPO-01: every write Stratos acknowledged during the burst (paused in the middle) is
    listed afterwards, under the URI and with the CID it was acknowledged with."""
    if failure := _listing_failure("STR-REPO-01", result):
        return failure
    acknowledged = result.acknowledged
    if not acknowledged:
        return Failure(
            "STR-REPO-01",
            "no write of the burst was acknowledged",
            f"{len(result.writes)} writes sent, none answered 2xx "
            f"({len(result.with_outcome(Outcome.REFUSED))} refused, "
            f"{len(result.with_outcome(Outcome.UNKNOWN))} without an answer); nothing shows "
            "that the service keeps writes",
            _answers(result.writes),
        )
    listed = listed_records(result.listed) or []
    by_text: dict[str, list[ListedRecord]] = defaultdict(list)
    for record in listed:
        if record.text is not None:
            by_text[record.text].append(record)
    lost: list[BurstWrite] = []
    changed: list[tuple[BurstWrite, str]] = []
    for write in acknowledged:
        matches = by_text.get(write.marker, [])
        if not matches:
            lost.append(write)
        elif not any(m.uri == write.uri and m.cid == write.cid for m in matches):
            got = ", ".join(f"{m.uri} cid {m.cid}" for m in matches)
            changed.append((write, f"acknowledged as {write.uri} cid {write.cid}, listed as {got}"))
    if not lost and not changed:
        return None
    problems: list[str] = []
    if lost:
        problems.append(
            f"{len(lost)} of {len(acknowledged)} acknowledged writes are gone: "
            + _quoted([f"{w.describe()} acknowledged as {w.uri}" for w in lost])
        )
    if changed:
        problems.append(
            f"{len(changed)} acknowledged writes are listed differently: "
            + _quoted([f"{w.describe()} {what}" for w, what in changed])
        )
    return Failure(
        "STR-REPO-01",
        "an acknowledged write was lost or changed across the pause",
        "; ".join(problems),
        (*_answers([*lost, *(w for w, _ in changed)]), result.listed[0].response),
    )


def check_no_duplicate_writes(result: BurstResult) -> Failure | None:
    """STR-REPO-01: each createRecord of the burst is stored at most once: no marker text is
    listed under two records (a write applied twice, e.g. replayed after the pause)."""
    if failure := _listing_failure("STR-REPO-01", result):
        return failure
    markers = {w.marker for w in result.writes}
    by_text: dict[str, list[ListedRecord]] = defaultdict(list)
    for record in listed_records(result.listed) or []:
        if record.text in markers:
            by_text[record.text].append(record)
    twice = {text: records for text, records in by_text.items() if len(records) > 1}
    if not twice:
        return None
    writes = {w.marker: w for w in result.writes}
    return Failure(
        "STR-REPO-01",
        "a write was stored more than once",
        f"{len(twice)} write(s) appear more than once after the pause: "
        + _quoted(
            [
                f"{writes[text].describe()} ({writes[text].outcome.value}) listed "
                f"{len(records)} times: {', '.join(r.uri for r in records)}"
                for text, records in sorted(twice.items())
            ]
        ),
        (*_answers(writes[text] for text in sorted(twice)), result.listed[0].response),
    )


# --- STR-VER-02: the repository after the outage ----------------------------------------------


def _by_rev(writes: Iterable[BurstWrite]) -> list[BurstWrite]:
    return sorted(writes, key=lambda w: (w.rev or "", w.index))


def check_repo_whole_after_outage(result: BurstResult) -> Failure | None:
    """STR-VER-02: after the pause, ``zone.stratos.sync.getRepo`` returns a CAR that verifies
    (block hashes, complete MST, commit signed with the user's repo key) and holds every
    acknowledged record with its CID, its commit no older than the newest acknowledged one."""
    acknowledged = [w for w in _by_rev(result.acknowledged) if w.probe is not None]
    probes = [w.probe for w in acknowledged if w.probe is not None]
    export = ExportProbes(
        result.did,
        tuple(probes[:-1]),
        tuple(probes[-1:]),  # the newest commit: the export must not be older
        None,
        result.export,
        None,
        result.enrollment_record,
    )
    failure = check_repo_export_complete(export)
    if failure is None:
        return None
    return replace(failure, message=f"after the pause mid-burst: {failure.message}")


# --- STR-VER-03: revs increase ----------------------------------------------------------------


def _writer_chains(writes: Iterable[BurstWrite]) -> dict[int, list[BurstWrite]]:
    chains: dict[int, list[BurstWrite]] = defaultdict(list)
    for write in sorted(writes, key=lambda w: w.index):
        chains[write.writer].append(write)
    return chains


def _ordered_pairs(writes: Sequence[BurstWrite]) -> Iterable[tuple[BurstWrite, BurstWrite]]:
    """(earlier, later) pairs where ``earlier`` was answered before ``later`` was sent: the
    service committed ``earlier`` first, whatever the thread."""
    by_done = sorted(writes, key=lambda w: w.done_at)
    for later in sorted(writes, key=lambda w: w.sent_at):
        for earlier in by_done:
            if earlier.done_at >= later.sent_at:
                break
            yield earlier, later


def check_revs_increase_across_burst(result: BurstResult) -> Failure | None:
    """STR-VER-03: every acknowledged commit's rev is a TID; within each writer each rev is
    greater than its previous one (``check_revs_increase``); across writers, a write sent after
    another was acknowledged has the greater rev; two different commits never share a rev."""
    acknowledged = [w for w in result.acknowledged if w.probe is not None]
    for chain in _writer_chains(acknowledged).values():
        steps = tuple(RevStep(w.probe, True) for w in chain if w.probe is not None)
        if failure := check_revs_increase(RevSequence(result.did, steps)):
            return failure
    timed = [w for w in acknowledged if w.rev is not None and is_valid_tid(w.rev)]
    problems: list[str] = []
    wrong: list[BurstWrite] = []
    for earlier, later in _ordered_pairs(timed):
        assert earlier.rev is not None and later.rev is not None
        if not later.rev > earlier.rev:
            problems.append(
                f"{later.describe()} has rev {later.rev}, not greater than {earlier.rev} of "
                f"{earlier.describe()}, which was acknowledged before it was sent"
            )
            wrong.extend((earlier, later))
    commits: dict[str, set[str | None]] = defaultdict(set)
    for write in timed:
        assert write.rev is not None
        commits[write.rev].add(write.commit_cid)
    for rev, cids in sorted(commits.items()):
        if len(cids) > 1:
            problems.append(f"{len(cids)} different commits share the rev {rev}")
            wrong.extend(w for w in timed if w.rev == rev)
    if not problems:
        return None
    return Failure(
        "STR-VER-03",
        "commit revs do not increase across concurrent writes",
        _quoted(problems),
        _answers(dict.fromkeys(wrong)),
    )


# --- kill -9 and restart ----------------------------------------------------------------------


def _refused_before(side: ServiceSurvival) -> MarkedWrite | None:
    return next((m for m in side.before if not is_success(m.write.response)), None)


def _survival_problems(side: ServiceSurvival) -> tuple[list[str], list[httpx.Response]]:
    problems: list[str] = []
    responses: list[httpx.Response] = []
    for marked in side.before:
        written = body_of(marked.write.response) or {}
        read = marked.read
        if read is None:
            problems.append(f"{marked.write.case}: acknowledged without a record uri")
            responses.append(marked.write.response)
            continue
        got = body_of(read.response)
        value = got.get("value") if got is not None else None
        text = value.get("text") if isinstance(value, dict) else None
        if got is None:
            problems.append(
                f"{read.case}: the acknowledged record ({marked.marker!r}) is gone, "
                f"got {describe_response(read.response)}"
            )
        elif got.get("cid") != written.get("cid"):
            problems.append(
                f"{read.case}: cid {got.get('cid')!r}, acknowledged as {written.get('cid')!r}"
            )
        elif text != marked.marker:
            problems.append(f"{read.case}: text {text!r}, written as {marked.marker!r}")
        else:
            continue
        responses.extend((marked.write.response, read.response))
    return problems, responses


def _records_survive(requirement: str, side: ServiceSurvival) -> Failure | None:
    if refused := _refused_before(side):
        return Failure(
            requirement,
            f"a correct write to {side.service} was refused before the restart",
            f"{refused.write.case}: expected 2xx, got {describe_response(refused.write.response)}",
            (refused.write.response,),
        )
    problems, responses = _survival_problems(side)
    if not problems:
        return None
    return Failure(
        requirement,
        f"an acknowledged write to {side.service} did not survive kill -9 and a restart",
        _quoted(problems),
        tuple(responses[: 2 * MAX_QUOTED]),
    )


def check_stratos_records_survive_restart(result: RestartResult) -> Failure | None:
    """STR-REPO-01: every record Stratos acknowledged reads back, with the same CID and
    content, after Stratos and the PDS were killed with SIGKILL and restarted."""
    return _records_survive("STR-REPO-01", result.stratos)


def check_pds_records_survive_restart(result: RestartResult) -> Failure | None:
    """PDS-05: every record the PDS acknowledged reads back, with the same CID and content,
    after the PDS (and Stratos) were killed with SIGKILL and restarted."""
    return _records_survive("PDS-05", result.pds)


def _write_after(requirement: str, side: ServiceSurvival, outage: Sequence[str]) -> Failure | None:
    body = body_of(side.after.response)
    if body is not None and isinstance(body.get("uri"), str) and isinstance(body.get("cid"), str):
        return None
    return Failure(
        requirement,
        f"{side.service} does not take writes after kill -9 and a restart",
        f"after {', '.join(outage)}: {side.after.case}: expected 200 with uri and cid, "
        f"got {describe_response(side.after.response)}",
        (side.after.response,),
    )


def check_stratos_write_after_restart(result: RestartResult) -> Failure | None:
    """STR-REPO-01: Stratos acknowledges a createRecord after the restarts (it still works)."""
    return _write_after("STR-REPO-01", result.stratos, result.outage)


def check_pds_write_after_restart(result: RestartResult) -> Failure | None:
    """PDS-05: the PDS acknowledges a createRecord after the restarts (it still works)."""
    return _write_after("PDS-05", result.pds, result.outage)


def _revs_across_restart(did: str, side: ServiceSurvival) -> Failure | None:
    """The writes before the kill, then the one after the restart, as one chain of revs."""
    steps = (*(RevStep(m.write, True) for m in side.before), RevStep(side.after, True))
    return check_revs_increase(RevSequence(did, steps))


def check_stratos_revs_after_restart(result: RestartResult) -> Failure | None:
    """STR-VER-03: the first commit after the restart has a rev greater than every commit
    acknowledged before the kill (a restarted service must not reuse or go back in revs)."""
    return _revs_across_restart(result.did, result.stratos)


def check_pds_revs_after_restart(result: RestartResult) -> Failure | None:
    """PDS-05 ("signed commits with increasing TID revs"): the same across the PDS restart."""
    failure = _revs_across_restart(result.did, result.pds)
    # The judging is STR-VER-03's; the requirement a PDS is held to is PDS-05.
    return replace(failure, requirement="PDS-05") if failure is not None else None
