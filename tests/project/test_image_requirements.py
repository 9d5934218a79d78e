"""docker/requirements.txt (the image's wheelhouse) covers what the reference implementation
imports, and only distributions the project already depends on (docs/docker.md, "The image")."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reference_impl", "lexicons")
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
# Needed at run time although never imported by name (with the reason).
RUNTIME_ONLY = {
    "python-multipart": "starlette's Request.form() parses form bodies with it (ATCR token auth)",
}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            match = _NAME.match(line)
            assert match, f"unparsable requirement {line!r}"
            names.append(normalize(match.group(1)))
    return names


def image_requirements() -> list[str]:
    return requirement_names(REQUIREMENTS.read_text(encoding="utf-8").splitlines())


def third_party_imports() -> dict[str, list[str]]:
    """Top-level module name -> the files importing it, for absolute non-stdlib imports."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


@cache
def installed_closure(names: tuple[str, ...]) -> frozenset[str]:
    """The distributions ``pip install NAMES`` brings in (extras-only requirements excluded)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(
            requirement_names([r.split(";")[0]])[0]
            for r in requires
            if "extra ==" not in r.partition(";")[2].replace('"', "").replace("'", "")
        )
    return frozenset(seen)


def test_the_scan_finds_the_known_imports() -> None:
    found = third_party_imports()
    for module in ("starlette", "uvicorn", "httpx", "cbrrr", "regex"):
        assert module in found


def test_every_third_party_import_is_installed_in_the_image() -> None:
    distributions = importlib.metadata.packages_distributions()
    closure = installed_closure(tuple(image_requirements()))
    missing = []
    for module, files in sorted(third_party_imports().items()):
        owners = [normalize(d) for d in distributions.get(module, [])]
        if not owners:
            missing.append(f"{module} (imported by {files[0]}) is not installed here at all")
        elif not any(owner in closure for owner in owners):
            missing.append(f"{module} ({', '.join(owners)}; imported by {files[0]})")
    assert missing == [], "add to docker/requirements.txt:\n" + "\n".join(missing)


def test_every_requirement_is_used_by_the_reference_implementation() -> None:
    distributions = importlib.metadata.packages_distributions()
    imported = {
        normalize(d) for module in third_party_imports() for d in distributions.get(module, [])
    }
    unused = [
        name
        for name in image_requirements()
        if name not in imported and name not in {normalize(n) for n in RUNTIME_ONLY}
    ]
    assert unused == [], f"not imported by {' or '.join(PACKAGES)}: {unused}"


def test_every_requirement_is_a_project_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = set(requirement_names(project["dependencies"]))
    stray = [name for name in image_requirements() if name not in declared]
    assert stray == [], f"not in pyproject.toml [project] dependencies: {stray}"


def test_requirements_are_unpinned_and_pinned_by_the_constraints() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    ]
    specified = [line for line in lines if line and not re.fullmatch(r"[A-Za-z0-9._-]+", line)]
    assert specified == [], "versions come from constraints.txt, not docker/requirements.txt"
    pinned = {
        normalize(line.split("==", 1)[0])
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    unpinned = [name for name in image_requirements() if name not in pinned]
    assert unpinned == [], f"no == pin in constraints.txt for {unpinned}"


@pytest.mark.parametrize(
    ("line", "name"),
    [("PyJWT[crypto]>=2.10", "pyjwt"), ("python_multipart", "python-multipart"), ("# x", None)],
)
def test_requirement_names_are_normalized(line: str, name: str | None) -> None:
    assert requirement_names([line]) == ([name] if name else [])
