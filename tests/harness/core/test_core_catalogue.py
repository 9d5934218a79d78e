"""The requirement catalogue: every requirement of the spec, validated on load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shared_files import shared_path

from conformance.catalogue import CatalogueError, load_catalogue
from conformance.errors import UsageError

SPECS = {name: shared_path(f"spec/{name}") for name in ("identity.md", "stratos.md", "atcr.md")}
# atcr.md names the OCI requirements by the OCI spec's own IDs instead of listing them.
OCI_IDS = {
    *(
        f"OCI-end-{e}"
        for e in (
            "1",
            "2",
            "3",
            "4a",
            "4b",
            "4c",
            "5",
            "6",
            "7a",
            "7b",
            "8a",
            "8b",
            "9",
            "10",
            "11",
            "12a",
            "12b",
            "13",
            "14",
        )
    ),
    *(f"OCI-code-{n}" for n in range(1, 15)),
}
# A requirement line of the spec: "- STR-BND-02 MUST: ..." / "- DPOP-11 SHOULD: ...".
REQUIREMENT_LINE = re.compile(r"^- ((?:[A-Z]+-)+\d\d) (MUST|SHOULD)", re.M)

# Which `verify --profile` runs check each family (the rest of the catalogue comes later).
PROFILES_BY_PREFIX = {
    "XRPC": ("identity", "stratos"),
    "PDS": ("identity",),
    "DPOP": ("identity", "stratos"),
    "CLOCK": ("identity", "stratos"),
    "CORS": ("stratos",),
    "STR": ("stratos",),
    "ATCR": ("atcr",),
    "OCI": ("oci", "atcr"),
}


def spec_levels() -> dict[str, tuple[str, str]]:
    """ID -> (level, spec file) for every requirement line of the spec files present."""
    found: dict[str, tuple[str, str]] = {}
    for name, path in SPECS.items():
        if path is None:
            pytest.skip(f"spec/{name} not found (see tests/shared_files.py)")
        for rid, level in REQUIREMENT_LINE.findall(path.read_text(encoding="utf-8")):
            found[rid] = (level, name)
    return found


def test_every_spec_requirement_is_catalogued_with_its_level_and_source() -> None:
    expected = spec_levels()
    cat = load_catalogue()
    assert set(cat.ids()) == set(expected) | OCI_IDS
    for r in cat:
        if r.id in OCI_IDS:
            # Pull, Push, Discovery and Management are MUST; only TOOMANYREQUESTS is SHOULD.
            assert (r.level, r.source) == (
                "SHOULD" if r.id == "OCI-code-14" else "MUST",
                "atcr.md",
            ), r.id
        else:
            assert (r.level, r.source) == expected[r.id], r.id
        assert r.text and r.title


def test_profiles() -> None:
    cat = load_catalogue()
    for r in cat:
        assert r.profiles == PROFILES_BY_PREFIX[r.id.split("-")[0]], r.id
    assert len(cat.for_profile("identity")) == 29
    assert len(cat.for_profile("stratos")) == 4 + 12 + 2 + 4 + 29
    assert len(cat.for_profile("all")) == len(cat.ids())
    assert len(cat.for_profile("oci")) == 33
    assert len(cat.for_profile("atcr")) == 33 + 19


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
