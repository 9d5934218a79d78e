"""The lexicon files shipped in the package: structure, naming, and the spec's method table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lexicons
from lexicons import load_catalog, parse_lexicon

PACKAGE_DIR = Path(lexicons.__file__).parent
BUNDLED = sorted(PACKAGE_DIR.rglob("*.json"))


def _nsid_for(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts)


def test_there_are_bundled_lexicons() -> None:
    assert len(BUNDLED) >= 50


@pytest.mark.parametrize("path", BUNDLED, ids=_nsid_for)
def test_bundled_file_parses_and_its_id_matches_its_path(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert parse_lexicon(doc).id == _nsid_for(path)


def test_load_catalog_holds_every_file_and_every_ref_resolves() -> None:
    catalog = load_catalog()
    assert {doc.id for doc in catalog} == {_nsid_for(path) for path in BUNDLED}
    assert catalog.unresolved_refs() == ()


def test_load_catalog_returns_independent_catalogs() -> None:
    first = load_catalog()
    second = load_catalog()
    assert first is not second
    first.add({"lexicon": 1, "id": "com.example.extra", "defs": {"x": {"type": "token"}}})
    assert "com.example.extra" in first
    assert "com.example.extra" not in second


# (nsid, kind, declared errors that must be present, input encoding, output encoding)
METHODS = [
    ("zone.stratos.enrollment.status", "query", (), None, "application/json"),
    (
        "zone.stratos.enrollment.unenroll", "procedure",
        ("NotEnrolled", "AuthRequired"), None, "application/json",
    ),
    ("zone.stratos.identity.resolveEnrollments", "query", (), None, "application/json"),
    ("zone.stratos.server.listDomains", "query", (), None, "application/json"),
    ("zone.stratos.repo.hydrateRecord", "query", ("RecordNotFound",), None, "application/json"),
    (
        "zone.stratos.repo.hydrateRecords", "procedure",
        ("TooManyUris",), "application/json", "application/json",
    ),
    (
        "zone.stratos.repo.importRepo", "procedure",
        ("InvalidCar", "RepoAlreadyExists"), "application/vnd.ipld.car", "application/json",
    ),
    (
        "zone.stratos.sync.getRepo", "query",
        ("RepoNotFound",), None, "application/vnd.ipld.car",
    ),
    (
        "zone.stratos.sync.subscribeRecords", "subscription",
        ("FutureCursor", "AuthRequired"), None, None,
    ),
    ("zone.stratos.feed.getTimeline", "query", (), None, "application/json"),
    (
        "io.atcr.hold.initiateUpload", "procedure", (), "application/json", "application/json",
    ),
    (
        "io.atcr.hold.getPartUploadUrl", "procedure",
        ("UploadNotFound",), "application/json", "application/json",
    ),
    (
        "io.atcr.hold.uploadPart", "procedure",
        ("UploadNotFound",), "application/octet-stream", "application/json",
    ),
    (
        "io.atcr.hold.completeUpload", "procedure",
        ("UploadNotFound", "DigestMismatch"), "application/json", "application/json",
    ),
    ("io.atcr.hold.abortUpload", "procedure", ("UploadNotFound",), "application/json", None),
    (
        "com.atproto.server.createAccount", "procedure",
        ("InvalidHandle", "InvalidPassword", "InvalidInviteCode", "HandleNotAvailable"),
        "application/json", "application/json",
    ),
    (
        "com.atproto.server.createSession", "procedure",
        ("AuthenticationRequired", "AccountTakedown", "AuthFactorTokenRequired"),
        "application/json", "application/json",
    ),
    (
        "com.atproto.server.refreshSession", "procedure",
        ("AccountTakedown",), None, "application/json",
    ),
    ("com.atproto.server.getSession", "query", (), None, "application/json"),
    ("com.atproto.server.deleteSession", "procedure", (), None, None),
    ("com.atproto.server.describeServer", "query", (), None, "application/json"),
    (
        "com.atproto.server.createAppPassword", "procedure",
        ("AccountTakedown",), "application/json", "application/json",
    ),
    ("com.atproto.server.listAppPasswords", "query", (), None, "application/json"),
    ("com.atproto.server.revokeAppPassword", "procedure", (), "application/json", None),
    (
        "com.atproto.server.getServiceAuth", "query",
        ("BadExpiration",), None, "application/json",
    ),
    ("com.atproto.identity.resolveHandle", "query", (), None, "application/json"),
    (
        "com.atproto.repo.createRecord", "procedure",
        ("InvalidSwap",), "application/json", "application/json",
    ),
    (
        "com.atproto.repo.putRecord", "procedure",
        ("InvalidSwap",), "application/json", "application/json",
    ),
    ("com.atproto.repo.getRecord", "query", ("RecordNotFound",), None, "application/json"),
    ("com.atproto.repo.listRecords", "query", (), None, "application/json"),
    (
        "com.atproto.repo.deleteRecord", "procedure",
        ("InvalidSwap",), "application/json", "application/json",
    ),
    (
        "com.atproto.repo.applyWrites", "procedure",
        ("InvalidSwap",), "application/json", "application/json",
    ),
    ("com.atproto.repo.describeRepo", "query", (), None, "application/json"),
    ("com.atproto.repo.uploadBlob", "procedure", (), "*/*", "application/json"),
    (
        "com.atproto.sync.getRepo", "query",
        ("RepoNotFound",), None, "application/vnd.ipld.car",
    ),
    ("com.atproto.sync.getLatestCommit", "query", ("RepoNotFound",), None, "application/json"),
    ("com.atproto.sync.getBlob", "query", ("BlobNotFound", "RepoNotFound"), None, "*/*"),
    ("com.atproto.sync.listBlobs", "query", ("RepoNotFound",), None, "application/json"),
    (
        "com.atproto.sync.getRecord", "query",
        ("RecordNotFound", "RepoNotFound"), None, "application/vnd.ipld.car",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("nsid", "kind", "errors", "input_encoding", "output_encoding"),
    METHODS,
    ids=[method[0] for method in METHODS],
)
def test_method_shape(
    nsid: str,
    kind: str,
    errors: tuple[str, ...],
    input_encoding: str | None,
    output_encoding: str | None,
) -> None:
    method = load_catalog().method(nsid)
    assert method is not None
    assert method.nsid == nsid
    assert method.kind == kind
    assert set(errors) <= set(method.errors)
    assert method.input_encoding == input_encoding
    assert method.output_encoding == output_encoding


@pytest.mark.parametrize(
    ("nsid", "key"),
    [
        ("zone.stratos.feed.post", "tid"),
        ("zone.stratos.actor.enrollment", "any"),
        ("io.atcr.manifest", "tid"),
        ("io.atcr.tag", "any"),
        ("io.atcr.sailor.profile", "literal:self"),
        ("io.atcr.hold.captain", "literal:self"),
        ("io.atcr.hold.crew", "any"),
    ],
)
def test_record_keys(nsid: str, key: str) -> None:
    catalog = load_catalog()
    record = catalog.record_schema(nsid)
    assert record is not None
    assert record.key == key
    assert catalog.method(nsid) is None


def test_lookups_of_other_kinds_answer_none() -> None:
    catalog = load_catalog()
    assert catalog.record_schema("com.atproto.repo.createRecord") is None
    assert catalog.method("zone.stratos.boundary.defs") is None
    assert catalog.method("com.example.nothing") is None
    assert catalog.record_schema("com.example.nothing") is None
