"""The harness and the reference implementation never import each other (shared data aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "conformance": "reference_impl",
    "load": "reference_impl",
    "reference_impl": "conformance",
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_the_other_side(package: str) -> None:
    banned = FORBIDDEN[package]
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imported_modules(path)
        if module == banned or module.startswith(banned + ".")
    ]
    assert offenders == [], "\n".join(offenders)


def test_the_scan_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import reference_impl.pds\nfrom reference_impl import x\n")
    assert [m for _, m in imported_modules(sample)] == ["reference_impl.pds", "reference_impl"]
