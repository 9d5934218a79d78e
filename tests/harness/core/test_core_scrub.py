"""Scrubbing a run directory for registered secrets, and SHA256SUMS over the bundle."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from conformance.plugin import finalize_run_dir
from conformance.redact import Redactor
from conformance.report.scrub import scrub_run_dir, verify_sha256sums, write_sha256sums


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    (d / "logs").mkdir(parents=True)
    (d / "allure-results").mkdir()
    (d / "report.html").write_text("<p>password s3cret-value-1 used</p>")
    (d / "junit.xml").write_text('<failure message="token tok-abcdef-2"/>')
    (d / "logs" / "pds.log").write_text("login s3cret-value-1\nok\n")
    (d / "allure-results" / "x-result.json").write_text('{"p": "s3cret-value-1"}')
    (d / "blob.bin").write_bytes(b"\x00\x01s3cret-value-1\xff")
    return d


def test_scrub_replaces_registered_values_in_text_files(run_dir: Path) -> None:
    redactor = Redactor(None)
    redactor.add("s3cret-value-1")
    redactor.add("tok-abcdef-2")
    changed = scrub_run_dir(run_dir, redactor)
    assert {p.relative_to(run_dir).as_posix() for p in changed} == {
        "report.html",
        "junit.xml",
        "logs/pds.log",
        "allure-results/x-result.json",
    }
    for rel in ("report.html", "junit.xml", "logs/pds.log", "allure-results/x-result.json"):
        text = (run_dir / rel).read_text()
        assert "s3cret-value-1" not in text and "tok-abcdef-2" not in text
        assert "[redacted]" in text
    assert (run_dir / "blob.bin").read_bytes() == b"\x00\x01s3cret-value-1\xff"  # binary left alone


def test_sums_cover_every_file_and_verify(run_dir: Path) -> None:
    sums = write_sha256sums(run_dir)
    lines = sums.read_text().splitlines()
    listed = sorted(line.split("  ", 1)[1] for line in lines)
    assert listed == sorted(
        ["report.html", "junit.xml", "logs/pds.log", "allure-results/x-result.json", "blob.bin"]
    )
    digest = hashlib.sha256((run_dir / "report.html").read_bytes()).hexdigest()
    assert f"{digest}  report.html" in lines
    result = verify_sha256sums(run_dir)
    assert result.ok and result.checked == 5
    # coreutils can check the same file
    done = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=run_dir, check=False)
    assert done.returncode == 0


def test_verify_finds_modified_missing_and_extra_files(run_dir: Path) -> None:
    write_sha256sums(run_dir)
    (run_dir / "report.html").write_text("tampered")
    (run_dir / "logs" / "pds.log").unlink()
    (run_dir / "extra.txt").write_text("new")
    result = verify_sha256sums(run_dir)
    assert not result.ok
    assert set(result.problems) == {
        "modified: report.html",
        "missing: logs/pds.log",
        "not listed: extra.txt",
    }


def test_verify_refuses_paths_outside_the_run_dir(run_dir: Path) -> None:
    (run_dir / "SHA256SUMS").write_text(f"{'0' * 64}  ../outside\n")
    assert any("outside the run directory" in p for p in verify_sha256sums(run_dir).problems)


def test_finalize_scrubs_before_checksumming(run_dir: Path) -> None:
    redactor = Redactor(None)
    redactor.add("s3cret-value-1")
    finalize_run_dir(run_dir, redactor)
    assert "s3cret-value-1" not in (run_dir / "logs" / "pds.log").read_text()
    assert verify_sha256sums(run_dir).ok
