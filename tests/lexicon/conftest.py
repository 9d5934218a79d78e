"""Locating the ATProto interop test vectors, and turning them into test parameters.

The vectors live outside the repository (see tests/shared_files.py for where they are looked
for). They are read from there at collection time; when the folder is absent, every vector test
is collected once and skipped.

A test asks for vectors by naming one of the parameters below (`syntax_vector`,
`lexicon_vector`, ...); `pytest_generate_tests` expands it into one test per vector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from shared_files import interop_vectors

from lexicons import Catalog, load_catalog

INTEROP_ENV = "ATPROTO_INTEROP_TESTS"

# File stem prefix in syntax/ -> lexicon string format name.
SYNTAX_FORMATS = {
    "atidentifier": "at-identifier",
    "aturi": "at-uri",
    "cid": "cid",
    "datetime": "datetime",
    "did": "did",
    "handle": "handle",
    "language": "language",
    "nsid": "nsid",
    "recordkey": "record-key",
    "tid": "tid",
    "uri": "uri",
}


@dataclass(frozen=True)
class SyntaxVector:
    fmt: str
    value: str
    valid: bool


@dataclass(frozen=True)
class JsonVector:
    name: str
    value: Any
    valid: bool


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


def _text_lines(path: Path) -> list[tuple[int, str]]:
    # Only the newline is stripped: leading/trailing spaces are part of several vectors.
    lines = path.read_text(encoding="utf-8").split("\n")
    return [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line and not line.startswith("#")
    ]


def _syntax_vectors(root: Path) -> list[Any]:
    params = []
    for path in sorted((root / "syntax").glob("*_syntax_*.txt")):
        prefix, _, kind = path.stem.partition("_syntax_")
        for number, line in _text_lines(path):
            vector = SyntaxVector(SYNTAX_FORMATS[prefix], line, kind == "valid")
            params.append(pytest.param(vector, id=f"{path.stem}:{number}:{_short(line)!r}"))
    return params


def _parse_invalid_vectors(root: Path) -> list[Any]:
    params = []
    for path in sorted((root / "syntax").glob("*_parse_invalid.txt")):
        prefix = path.stem.removesuffix("_parse_invalid")
        for number, line in _text_lines(path):
            vector = SyntaxVector(SYNTAX_FORMATS[prefix], line, valid=False)
            params.append(pytest.param(vector, id=f"{path.stem}:{number}:{line!r}"))
    return params


def _json_cases(root: Path, folder: str, stem: str, name_key: str, value_key: str) -> list[Any]:
    params = []
    for kind in ("valid", "invalid"):
        path = root / folder / f"{stem}-{kind}.json"
        cases = json.loads(path.read_text(encoding="utf-8"))
        for index, case in enumerate(cases):
            vector = JsonVector(case[name_key], case[value_key], kind == "valid")
            params.append(pytest.param(vector, id=f"{kind}:{index}:{case[name_key]}"))
    return params


_SOURCES: dict[str, Callable[[Path], list[Any]]] = {
    "syntax_vector": _syntax_vectors,
    "parse_invalid_vector": _parse_invalid_vectors,
    "lexicon_vector": lambda root: _json_cases(root, "lexicon", "lexicon", "name", "lexicon"),
    "data_model_vector": lambda root: _json_cases(root, "data-model", "data-model", "note", "json"),
    "record_data_vector": lambda root: _json_cases(root, "lexicon", "record-data", "name", "data"),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, load in _SOURCES.items():
        if name not in metafunc.fixturenames:
            continue
        root = interop_vectors()
        if root is not None:
            metafunc.parametrize(name, load(root))
        else:
            reason = f"interop test vectors not found (set {INTEROP_ENV})"
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason))])


@pytest.fixture
def catalog() -> Catalog:
    """The bundled lexicons, fresh for each test."""
    return load_catalog()
