"""The requirement catalogue: every identity-tier requirement, validated on load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shared_files import shared_path

from conformance.catalogue import CatalogueError, load_catalogue
from conformance.errors import UsageError

SPEC = shared_path("spec/identity.md")

EXPECTED = (
    [f"XRPC-{i:02d}" for i in range(1, 5)]
    + [f"PDS-{i:02d}" for i in range(1, 12)]
    + [f"DPOP-{i:02d}" for i in range(1, 13)]
    + [f"CORS-{i:02d}" for i in range(1, 5)]
    + [f"CLOCK-{i:02d}" for i in range(1, 3)]
)


def test_every_identity_requirement_is_catalogued() -> None:
    assert list(load_catalogue().ids()) == EXPECTED


def test_levels_and_profiles() -> None:
    cat = load_catalogue()
    shoulds = {r.id for r in cat if r.level == "SHOULD"}
    assert shoulds == {"DPOP-11", "CORS-02", "CLOCK-01"}
    for r in cat:
        expected = ("stratos",) if r.id.startswith("CORS-") else ("identity",)
        assert r.profiles == expected, r.id
        assert r.source == "identity.md"
        assert r.text and r.title
    assert len(cat.for_profile("identity")) == 29
    assert len(cat.for_profile("all")) == len(EXPECTED)
    assert [r.id for r in cat.for_profile("stratos")] == [
        "CORS-01",
        "CORS-02",
        "CORS-03",
        "CORS-04",
    ]
    assert cat.for_profile("atcr") == ()


@pytest.mark.skipif(SPEC is None, reason="spec/identity.md not found (see tests/shared_files.py)")
def test_levels_match_the_spec_text() -> None:
    assert SPEC is not None
    text = SPEC.read_text(encoding="utf-8")
    spec_levels = dict(re.findall(r"^- ([A-Z]+-\d\d) (MUST|SHOULD)", text, flags=re.M))
    cat = load_catalogue()
    assert set(spec_levels) == set(cat.ids())
    for r in cat:
        assert r.level == spec_levels[r.id], r.id


def test_unknown_ids_are_rejected_with_a_suggestion() -> None:
    cat = load_catalogue()
    with pytest.raises(
        UsageError, match=r"unknown requirement ID 'DPOP-6' \(did you mean DPOP-06\?\)"
    ):
        cat.get("DPOP-6")
    assert cat.check_ids(["dpop-06", "XRPC-01", "DPOP-06"]) == ("DPOP-06", "XRPC-01")
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        cat.for_profile("nope")


def entry(req_id: str = "X-01", level: str = "MUST", profiles: str = '["identity"]') -> str:
    return (
        f'[[requirement]]\nid = "{req_id}"\nlevel = "{level}"\narea = "a"\n'
        f'profiles = {profiles}\nsource = "s"\ntitle = "t"\ntext = "x"\n'
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('[[requirement]]\nid = "X-01"\n', "missing"),
        (entry(level="MAY"), "level"),
        (entry(profiles='["all"]'), "profiles"),
        (entry() * 2, "duplicate"),
        (entry(req_id="bad id"), "malformed"),
    ],
)
def test_broken_catalogue_files_are_refused(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "requirements.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogueError, match=fragment):
        load_catalogue(path)
