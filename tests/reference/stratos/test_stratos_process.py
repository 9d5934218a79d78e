"""Stratos as a process: the real entry point, and durability across ``kill -9``."""

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
import pytest
from stratos_support import (
    SERVICE_DID,
    SYNC_TOKEN,
    RecordingHooks,
    auth,
    new_did,
    post,
    stratos_config,
)

from conformance.localserver import free_port
from conformance.repo_verify import verify_repo
from reference_impl.primitives import dagcbor
from reference_impl.stratos.core import build_stratos
from reference_impl.stratos.records import RecordWrite

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = Path(__file__).with_name("stratos_test_server.py")
POST = "zone.stratos.feed.post"


def _env(data_dir: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STRATOS_SERVICE_DID": SERVICE_DID,
        "STRATOS_ENROLLMENT_MODE": "open",
        "STRATOS_SYNC_TOKEN": SYNC_TOKEN,
        "STRATOS_DATA_DIR": str(data_dir),
        "STRATOS_PORT": str(port),
        "STRATOS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"Stratos exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"Stratos did not become ready:\n{log.read_text()}")


def test_entry_point_serves_and_refuses_credentials(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "stratos.log"
    args = [sys.executable, "-m", "reference_impl.stratos", "--port", str(port)]
    with _process(args, _env(tmp_path / "data", port), log) as proc:
        _wait_ready(url, proc, log)
        assert httpx.get(f"{url}/.well-known/did.json").json()["id"] == SERVICE_DID
        listed = httpx.get(f"{url}/xrpc/zone.stratos.server.listDomains").json()
        assert listed["domains"] == [f"{SERVICE_DID}/engineering", f"{SERVICE_DID}/design"]
        did = new_did()
        refused = httpx.post(
            f"{url}/xrpc/com.atproto.repo.createRecord",
            json={"repo": did, "collection": POST, "record": post("x")},
            headers=auth(did),
        )
        # The test-only "Test <did>" scheme means nothing to the real DPoP/OAuth layer.
        assert refused.status_code == 401 and refused.json()["error"] == "InvalidToken"
        assert refused.headers["WWW-Authenticate"].startswith("DPoP ")
        assert "RateLimit-Policy" in refused.headers
        unknown = httpx.get(f"{url}/xrpc/com.example.nothing")
        assert unknown.status_code == 501
    assert SYNC_TOKEN not in log.read_text()  # the secret never reaches the log


def test_entry_point_rejects_bad_settings(tmp_path: Path) -> None:
    env = {**_env(tmp_path, free_port()), "STRATOS_SERVICE_DID": "did:web:host%3A3100"}
    result = subprocess.run(
        [sys.executable, "-m", "reference_impl.stratos"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "STRATOS_SERVICE_DID" in result.stderr
    faulty = subprocess.run(
        [sys.executable, "-m", "reference_impl.stratos", "--fault", "no-such-fault"],
        env=_env(tmp_path, free_port()),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert faulty.returncode == 2 and "unknown fault" in faulty.stderr


def test_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    did = new_did()
    # Enrol the way the OAuth callback would, in this process, before the server starts.
    setup = build_stratos(stratos_config(data_dir, "http://127.0.0.1"))
    setup.enrollments.enroll(did, "alice.test", ["engineering"])
    setup.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(data_dir, port)
    log = tmp_path / "stratos.log"
    args = [sys.executable, str(LAUNCHER)]
    with _process(args, env, log) as proc:
        _wait_ready(url, proc, log)
        created = httpx.post(
            f"{url}/xrpc/com.atproto.repo.createRecord",
            json={"repo": did, "collection": POST, "record": post("durable")},
            headers=auth(did),
            timeout=10,
        )
        assert created.status_code == 200, created.text
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert "TEST-ONLY STRATOS" in log.read_text()

    with _process(args, env, log) as proc:
        _wait_ready(url, proc, log)
        rkey = created.json()["uri"].rsplit("/", 1)[1]
        read = httpx.get(
            f"{url}/xrpc/com.atproto.repo.getRecord",
            params={"repo": did, "collection": POST, "rkey": rkey},
            headers=auth(did),
        )
        assert read.status_code == 200 and read.json()["cid"] == created.json()["cid"]
        export = httpx.get(
            f"{url}/xrpc/zone.stratos.sync.getRepo", params={"did": did}, headers=auth(did)
        )
        contents = verify_repo(export.content, did, None)
        assert f"{POST}/{rkey}" in contents.records
        assert export.content  # the head moved with the acknowledged commit
        next_write = httpx.post(
            f"{url}/xrpc/com.atproto.repo.createRecord",
            json={"repo": did, "collection": POST, "record": post("after restart")},
            headers=auth(did),
        )
        assert next_write.status_code == 200
        assert next_write.json()["commit"]["rev"] > created.json()["commit"]["rev"]


def test_commit_queued_by_a_crash_is_published_on_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    did = new_did()
    first = build_stratos(stratos_config(data_dir, "http://127.0.0.1"))
    enrollment = first.enrollments.enroll(did, None, ["engineering"])
    prepared = first.writes.preparer.prepare(
        RecordWrite("create", POST, None, post("orphan")), enrollment.domains, None
    )
    # Stored but never published: what a crash right after the commit leaves behind.
    outcome = first.repos.commit(
        did, enrollment.signing_key, [prepared], None, "2026-01-01T00:00:00Z"
    )
    seq_before = first.events.latest_seq()
    first.close()

    hooks = RecordingHooks()
    second = build_stratos(stratos_config(data_dir, "http://127.0.0.1"), hooks)
    events = second.events.read_after(seq_before)
    assert [e.kind for e in events] == ["#commit"]
    assert events[0].body["commit"] == dagcbor.parse_cid(outcome.commit_cid)
    assert [(d, [c.cid for c in cs]) for d, cs in hooks.changes] == [
        (did, [outcome.results[0].cid])
    ]
    assert second.repos.pending_publications(did) == []
    second.close()
    # Publishing again is harmless: the event log keeps one copy.
    third = build_stratos(stratos_config(data_dir, "http://127.0.0.1"))
    assert third.events.latest_seq() == events[0].seq
    third.close()
