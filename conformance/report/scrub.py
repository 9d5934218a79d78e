"""The last steps of a run: scrub secrets from every artifact, then checksum the bundle.

Evidence is redacted when it is captured, but other artifacts (junit.xml, allure results,
service logs, tracebacks in messages) are written by code that knows nothing of our secrets, so
every text file of the run directory is rewritten once more through ``Redactor.text`` (H-REP-01).
``SHA256SUMS`` (coreutils format, so ``sha256sum -c`` works too) is written last, over every
other file, so a published bundle can be checked with ``atconform report --verify``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SUMS_FILE = "SHA256SUMS"


class TextRedactor(Protocol):
    def text(self, value: str) -> str: ...


def _files(run_dir: Path) -> list[Path]:
    """Every regular file under the run directory, sorted, symlinks not followed."""
    out: list[Path] = []
    for root, dirs, files in os.walk(run_dir, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                out.append(path)
    return out


def scrub_run_dir(run_dir: Path, redactor: TextRedactor) -> list[Path]:
    """Rewrite every UTF-8 text file through ``redactor.text``; returns the files changed."""
    changed: list[Path] = []
    for path in _files(run_dir):
        if path.name == SUMS_FILE and path.parent == run_dir:
            continue
        data = path.read_bytes()
        if b"\x00" in data:
            continue  # binary
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        clean = redactor.text(text)
        if clean != text:
            path.write_bytes(clean.encode("utf-8"))
            changed.append(path)
    return changed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sha256sums(run_dir: Path) -> Path:
    """Checksum every file of the run directory (except SHA256SUMS itself)."""
    lines = []
    for path in _files(run_dir):
        rel = path.relative_to(run_dir).as_posix()
        if rel == SUMS_FILE:
            continue
        lines.append(f"{_sha256(path)}  {rel}\n")
    sums = run_dir / SUMS_FILE
    sums.write_text("".join(lines), encoding="utf-8")
    return sums


@dataclass(frozen=True)
class Verification:
    checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_sha256sums(run_dir: Path) -> Verification:
    """Check every listed file's hash, and that no file was added or removed."""
    sums = run_dir / SUMS_FILE
    if not sums.is_file():
        raise FileNotFoundError(f"{run_dir} has no {SUMS_FILE}")
    problems: list[str] = []
    listed: dict[str, str] = {}
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            problems.append(f"{SUMS_FILE} line {n} is malformed")
            continue
        if rel.startswith("/") or ".." in Path(rel).parts:
            problems.append(f"{SUMS_FILE} line {n} names a path outside the run directory")
            continue
        listed[rel] = digest.lower()
    checked = 0
    for rel, digest in listed.items():
        path = run_dir / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
            continue
        checked += 1
        if _sha256(path) != digest:
            problems.append(f"modified: {rel}")
    present = {p.relative_to(run_dir).as_posix() for p in _files(run_dir)} - {SUMS_FILE}
    for rel in sorted(present - set(listed)):
        problems.append(f"not listed: {rel}")
    return Verification(checked=checked, problems=tuple(problems))
