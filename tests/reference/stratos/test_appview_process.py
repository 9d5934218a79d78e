"""``python -m reference_impl.stratos.appview`` as a process: env wiring, lifespan, default auth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from appview_fakes import BOB, ENGINEERING, FakeEventStream, wait_until

from conformance.localserver import free_port


def test_the_module_runs_follows_the_stream_and_demands_dpop(tmp_path: Path) -> None:
    port = free_port()
    with FakeEventStream() as stream:
        stream.enroll(BOB, ENGINEERING)
        env = {
            **os.environ,
            "STRATOS_APPVIEW_STRATOS_URL": stream.url,
            "STRATOS_APPVIEW_SYNC_TOKEN": stream.sync_token,
            "STRATOS_APPVIEW_PLC_URL": "http://127.0.0.1:9",  # never reached in this test
            # The most talkative level, to show the sync token stays out of the log even so.
            "LOG_LEVEL": "DEBUG",
        }
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "reference_impl.stratos.appview"),
                *("--port", str(port), "--data-dir", str(tmp_path / "data")),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=5, trust_env=False) as http:

                def caught_up() -> bool:
                    try:
                        health = http.get(f"{url}/xrpc/_health").json()
                    except httpx.TransportError:
                        return False
                    return bool(health.get("cursor") == stream.latest_seq())

                wait_until(caught_up, timeout=20, step=0.05)
                # Without an injected authenticator the DPoP resource server is in charge: a
                # request without credentials gets the DPoP challenge and a nonce.
                anonymous = http.get(f"{url}/xrpc/zone.stratos.feed.getTimeline")
                assert anonymous.status_code == 401
                assert anonymous.json()["error"] == "AuthRequired"
                assert anonymous.headers["www-authenticate"].startswith("DPoP")
                assert anonymous.headers.get("dpop-nonce")
                bearer = http.get(
                    f"{url}/xrpc/zone.stratos.feed.getTimeline",
                    headers={"Authorization": "Bearer abc"},
                )
                assert bearer.status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
        log = stderr.decode(errors="replace")
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
        assert process.returncode in (0, -signal.SIGTERM), log[-2000:]
        assert f"stopped; the stream will resume after seq {stream.latest_seq()}" in log
        # The sync token travels in the URL's query; it must not reach the log.
        assert "subscribed to" in log
        assert stream.sync_token.encode() not in stderr
