"""`atconform serve` runs the reference services until told to stop, then leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conformance.localserver import free_port
from conformance.runtime.process import port_in_use


def _ignore_sigint() -> None:
    # What a non-interactive shell does to background jobs: serve must still stop on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly(stop_signal: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance",
            "serve",
            "--ports",
            f"pds={port}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/xrpc/_health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "serve did not bring the PDS up"
            time.sleep(0.2)
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.rstrip().endswith("stopped")
    assert not port_in_use(port), "the PDS is still listening after serve stopped"
    assert (tmp_path / "data" / "pds" / "pds.sqlite").exists(), "--data-dir is kept"
