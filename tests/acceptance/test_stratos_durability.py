"""An acknowledged createRecord survives `kill -9` of Stratos and a restart.

The production service (real OAuth enrollment, DPoP-bound tokens from the PDS), started and
killed as a process; the harness's own clients write and read.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.clients.oauth import OAuthClient
from conformance.clients.stratos import StratosEnroller, post_record
from conformance.clients.xrpc import XrpcClient
from conformance.redact import Redactor
from conformance.runtime.embedded import start_embedded
from conformance.runtime.process import ProcessRuntime, pick_free_ports, reference_services
from conformance.target import TargetProfile

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[ProcessRuntime, TargetProfile]]:
    names = ["pds", "stratos", "stratos-appview"]
    with ProcessRuntime(tmp_path / "data", tmp_path / "logs") as runtime:
        specs = reference_services("stratos", pick_free_ports(names))
        yield runtime, start_embedded(runtime, specs, Redactor(None))


def test_acknowledged_write_survives_kill_9(
    deployment: tuple[ProcessRuntime, TargetProfile],
) -> None:
    runtime, target = deployment
    assert target.stratos.url and target.identity.pds
    account = target.accounts[0]
    password = target.password(account)
    with httpx.Client(timeout=30) as http:
        redactor = Redactor(None)
        session = OAuthClient(http, redactor).login(target.identity.pds, account.handle, password)
        attempt = StratosEnroller(http, redactor).enroll(
            target.stratos.url, account.handle, password, account.boundaries
        )
        assert attempt.enrolled, attempt.final.text
        stratos = XrpcClient(target.stratos.url, http)
        created = stratos.procedure(
            "com.atproto.repo.createRecord",
            {
                "repo": session.did,
                "collection": "zone.stratos.feed.post",
                "record": post_record("written before kill -9"),
            },
            auth=session.auth(),
        )
        assert created.status_code == 200, created.text
        uri, cid = created.json()["uri"], created.json()["cid"]

        runtime.kill("stratos", signal.SIGKILL)
        runtime.restart("stratos")

        rkey = uri.rsplit("/", 1)[1]
        read = stratos.query(
            "com.atproto.repo.getRecord",
            {"repo": session.did, "collection": "zone.stratos.feed.post", "rkey": rkey},
            auth=session.auth(),
        )
        assert read.status_code == 200, read.text
        assert read.json()["cid"] == cid
        assert read.json()["value"]["text"] == "written before kill -9"
