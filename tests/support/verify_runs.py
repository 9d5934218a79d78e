"""Running `atconform verify` as a subprocess, the way users and CI do, and reading its run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class VerifyRun:
    exit_code: int
    stdout: str
    stderr: str
    run_dir: Path
    ledger: tuple[str, ...]
    wall_s: float

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / "results.json").read_text())
        return data

    def requirement(self, rid: str) -> dict[str, Any]:
        return next(r for r in self.results["requirements"] if r["id"] == rid)

    def statuses(self) -> dict[str, str]:
        return {r["id"]: r["status"] for r in self.results["requirements"] if r["in_profile"]}

    def measurements(self, rid: str) -> dict[str, Any]:
        return {m["name"]: m["value"] for m in self.requirement(rid)["measurements"]}

    def output(self) -> str:
        return self.stdout[-4000:] + self.stderr[-2000:]


def run_verify(
    base: Path, args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 900
) -> VerifyRun:
    """``python -m conformance verify ARGS --report-dir <base>/reports``, with a secret ledger."""
    ledger = base / "secrets.ledger"  # outside the report directory, by design
    full_env = {**os.environ, **(env or {}), "ATCONFORM_SECRET_LEDGER": str(ledger)}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "verify",
            *args,
            "--report-dir",
            str(base / "reports"),
        ],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    wall = time.monotonic() - started
    (run_dir,) = (base / "reports").iterdir()
    secrets = tuple(s for s in ledger.read_text().splitlines() if s) if ledger.exists() else ()
    return VerifyRun(done.returncode, done.stdout, done.stderr, run_dir, secrets, wall)


def leaked_secrets(run: VerifyRun) -> list[str]:
    """Every (file, secret kind) where a secret the run registered appears in an artifact."""
    return [
        f"{path.relative_to(run.run_dir)} contains a registered secret ({len(secret)} chars)"
        for path in run.run_dir.rglob("*")
        if path.is_file()
        for secret in run.ledger
        if len(secret) >= 6 and secret.encode() in path.read_bytes()
    ]
