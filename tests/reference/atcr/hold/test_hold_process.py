"""``python -m reference_impl.atcr.hold`` as a real process: startup, settings errors, and an
upload that survives ``kill -9`` halfway (state in hold.sqlite, parts on disk)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from hold_support import NS, Pds

from conformance.localserver import free_port
from reference_impl.atcr.digests import digest_of
from reference_impl.atcr.hold.config import KNOWN_FAULTS

MODULE = "reference_impl.atcr.hold"


@contextmanager
def hold_process(
    port: int, data_dir: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--port", str(port), "--data-dir", str(data_dir)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port}/xrpc/_health", timeout=1).status_code
                        == 200
                    ):
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "hold did not start"
                time.sleep(0.1)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_list_faults_and_bad_settings(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", MODULE, "--list-faults"], capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0 and listed.stdout.split() == list(KNOWN_FAULTS)
    bad = subprocess.run(
        [sys.executable, "-m", MODULE, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HOLD_STORAGE": "floppy"},
    )
    assert bad.returncode == 2 and "HOLD_STORAGE" in bad.stderr


def test_upload_survives_kill_9(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    did = f"did:web:127.0.0.1%3A{port}"
    env = {"HOLD_PLC_URL": hold_pds.url, "HOLD_CREW": hold_pds.crew.did}
    log = tmp_path / "hold.log"
    data = b"first half|" * 1000 + b"second half" * 1000
    digest = str(digest_of(data))

    def auth(nsid: str) -> dict[str, str]:
        token = hold_pds.service_token(http, hold_pds.crew, did, nsid)
        return {"Authorization": f"Bearer {token}"}

    tokens_seen = []
    with hold_process(port, tmp_path / "data", env, log) as proc:
        assert http.get(f"{url}/.well-known/did.json").json()["id"] == did
        headers = auth(NS + "initiateUpload")
        tokens_seen.append(headers["Authorization"].split()[1])
        r = http.post(f"{url}/xrpc/{NS}initiateUpload", json={"digest": digest}, headers=headers)
        upload_id = r.json()["uploadId"]
        first = http.put(
            f"{url}/xrpc/{NS}uploadPart",
            params={"uploadId": upload_id, "partNumber": 1},
            content=data[:11000],
            headers=auth(NS + "uploadPart"),
        )
        assert first.status_code == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with hold_process(port, tmp_path / "data", env, log):
        second = http.put(
            f"{url}/xrpc/{NS}uploadPart",
            params={"uploadId": upload_id, "partNumber": 2},
            content=data[11000:],
            headers=auth(NS + "uploadPart"),
        )
        assert second.status_code == 200, second.text
        parts = [
            {"partNumber": 1, "etag": first.json()["etag"]},
            {"partNumber": 2, "etag": second.json()["etag"]},
        ]
        done = http.post(
            f"{url}/xrpc/{NS}completeUpload",
            json={"uploadId": upload_id, "digest": digest, "parts": parts},
            headers=auth(NS + "completeUpload"),
        )
        assert done.status_code == 200, done.text
        got = http.get(
            f"{url}/xrpc/com.atproto.sync.getBlob",
            params={"did": did, "cid": digest_of(data).to_cid()},
        )
        assert got.content == data
    text = log.read_text()
    assert "POST /xrpc/io.atcr.hold.initiateUpload 200" in text
    for token in tokens_seen:
        assert token not in text
