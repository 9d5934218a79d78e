"""The requirement catalogue: IDs, levels and spec sentences that reports are organised by."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from conformance.errors import UsageError

# `verify --profile` values. `all` is the union of the others and is never listed in the TOML.
PROFILES = ("identity", "stratos", "atcr", "oci", "all")
LEVELS = ("MUST", "SHOULD")

_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Za-z0-9]+)+$")
_FIELDS = ("id", "level", "area", "profiles", "source", "title", "text")


class CatalogueError(Exception):
    """The catalogue file itself is broken (a project defect, not a user error)."""


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str  # "MUST" | "SHOULD"
    area: str
    profiles: tuple[str, ...]
    source: str
    title: str
    text: str

    @property
    def is_must(self) -> bool:
        return self.level == "MUST"

    def in_profile(self, profile: str) -> bool:
        return profile == "all" or profile in self.profiles


@dataclass(frozen=True)
class Catalogue:
    requirements: tuple[Requirement, ...]

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    def __contains__(self, req_id: object) -> bool:
        return any(r.id == req_id for r in self.requirements)

    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)

    def get(self, req_id: str) -> Requirement:
        """The requirement with this ID; an unknown ID is a UsageError naming the closest one."""
        for r in self.requirements:
            if r.id == req_id or r.id.upper() == req_id.upper():
                return r
        raise UsageError(f"unknown requirement ID {req_id!r}{self.suggest(req_id)}")

    def suggest(self, req_id: str) -> str:
        close = difflib.get_close_matches(req_id.upper(), self.ids(), n=1, cutoff=0.6)
        return f" (did you mean {close[0]}?)" if close else ""

    def for_profile(self, profile: str) -> tuple[Requirement, ...]:
        if profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
        return tuple(r for r in self.requirements if r.in_profile(profile))

    def check_ids(self, ids: Iterable[str]) -> tuple[str, ...]:
        """Validate user-given IDs (case-insensitive); returns them in canonical form."""
        out: list[str] = []
        for raw in ids:
            out.append(self.get(raw.strip()).id)
        return tuple(dict.fromkeys(out))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate the catalogue: the packaged files (``requirements.toml`` first, then
    every other ``*.toml`` beside it, by name) unless a path is given."""
    if path is not None:
        return Catalogue(tuple(_parse(path.read_text("utf-8"), str(path), set())))
    package = resources.files(__package__)
    names = sorted(
        (e.name for e in package.iterdir() if e.name.endswith(".toml")),
        key=lambda n: (n != "requirements.toml", n),
    )
    seen: set[str] = set()
    reqs: list[Requirement] = []
    for name in names:
        reqs.extend(_parse(package.joinpath(name).read_text("utf-8"), name, seen))
    return Catalogue(tuple(reqs))


def _parse(text: str, where: str, seen: set[str]) -> list[Requirement]:
    """The requirements of one catalogue file; ``seen`` holds the IDs of files read before."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    entries = raw.get("requirement")
    if set(raw) != {"requirement"} or not isinstance(entries, list):
        raise CatalogueError(f"{where}: expected only [[requirement]] tables")
    reqs: list[Requirement] = []
    for i, e in enumerate(entries):
        label = f"{where}: requirement #{i + 1} ({e.get('id', '?')})"
        extra = set(e) - set(_FIELDS)
        missing = [f for f in _FIELDS if f not in e]
        if extra or missing:
            raise CatalogueError(f"{label}: unknown fields {sorted(extra)}, missing {missing}")
        if not isinstance(e["id"], str) or not _ID_RE.match(e["id"]):
            raise CatalogueError(f"{label}: malformed id")
        if e["id"] in seen:
            raise CatalogueError(f"{label}: duplicate id")
        seen.add(e["id"])
        if e["level"] not in LEVELS:
            raise CatalogueError(f"{label}: level must be one of {LEVELS}")
        profiles = e["profiles"]
        if (
            not isinstance(profiles, list)
            or not profiles
            or any(p not in PROFILES or p == "all" for p in profiles)
        ):
            raise CatalogueError(f"{label}: profiles must be a non-empty subset of {PROFILES[:-1]}")
        for f in ("area", "source", "title", "text"):
            if not isinstance(e[f], str) or not e[f].strip():
                raise CatalogueError(f"{label}: {f} must be a non-empty string")
        reqs.append(
            Requirement(
                id=e["id"],
                level=e["level"],
                area=e["area"],
                profiles=tuple(profiles),
                source=e["source"],
                title=e["title"].strip(),
                text=" ".join(e["text"].split()),
            )
        )
    return reqs
