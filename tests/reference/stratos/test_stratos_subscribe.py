"""zone.stratos.sync.subscribeRecords over a real WebSocket (the ``websockets`` client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cbrrr import CID
from stratos_support import ENGINEERING, SYNC_TOKEN, RunningStratos, new_did, post, running_stratos
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from lexicons import load_catalog
from reference_impl.primitives import dagcbor
from reference_impl.stratos.events import decode_frame

NSID = "zone.stratos.sync.subscribeRecords"
POST = "zone.stratos.feed.post"
CATALOG = load_catalog()


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[RunningStratos]:
    """A fresh service per test, so sequence numbers are predictable."""
    with running_stratos(tmp_path) as running:
        yield running


def _connect(svc: RunningStratos, **params: Any) -> ClientConnection:
    url = svc.url.replace("http://", "ws://") + f"/xrpc/{NSID}"
    if params:
        url += "?" + urlencode(params)
    return connect(url, open_timeout=5)


def _next(ws: ClientConnection) -> tuple[dict[str, Any], dict[str, Any]]:
    message = ws.recv(timeout=5)
    assert isinstance(message, bytes)
    header, body = decode_frame(message)
    if header.get("op") == 1:
        # Every message validates against the lexicon (JSON form; the type is in the header).
        CATALOG.validate_message(NSID, dagcbor.ipld_to_json(body), header["t"])
    return header, body


def _expect_error(ws: ClientConnection, error: str) -> None:
    header, body = _next(ws)
    assert header == {"op": -1}
    assert body["error"] == error and isinstance(body["message"], str)
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_sync_token_is_required(svc: RunningStratos, token: str | None) -> None:
    params = {} if token is None else {"syncToken": token}
    with _connect(svc, **params) as ws:
        _expect_error(ws, "AuthRequired")


def test_future_cursor(svc: RunningStratos) -> None:
    svc.enroll(new_did(), "engineering")
    with _connect(svc, syncToken=SYNC_TOKEN, cursor=5) as ws:
        _expect_error(ws, "FutureCursor")


def test_invalid_parameters(svc: RunningStratos) -> None:
    with _connect(svc, syncToken=SYNC_TOKEN, cursor="abc") as ws:
        _expect_error(ws, "InvalidRequest")


def test_plain_http_is_told_to_use_a_websocket(svc: RunningStratos) -> None:
    response = svc.http.get(svc.xrpc(NSID), params={"syncToken": SYNC_TOKEN})
    assert response.status_code == 400 and response.json()["error"] == "InvalidRequest"


def test_replay_then_live(svc: RunningStratos) -> None:
    alice = new_did()
    svc.enroll(alice, "engineering")
    created = svc.create(alice, post("first", [ENGINEERING])).json()
    rkey = created["uri"].rsplit("/", 1)[1]
    with _connect(svc, syncToken=SYNC_TOKEN, cursor=0) as ws:
        header, enrolled = _next(ws)
        assert header == {"op": 1, "t": "#enrollment"}
        assert enrolled["seq"] == 1 and enrolled["did"] == alice and enrolled["enrolled"] is True
        assert enrolled["boundaries"] == [{"value": ENGINEERING}]

        header, commit = _next(ws)
        assert header == {"op": 1, "t": "#commit"}
        assert commit["seq"] == 2 and commit["did"] == alice
        assert commit["commit"] == CID.decode(created["commit"]["cid"])
        assert commit["rev"] == created["commit"]["rev"]
        (op,) = commit["ops"]
        assert op["action"] == "create" and op["path"] == f"{POST}/{rkey}"
        assert (op["collection"], op["rkey"]) == (POST, rkey)
        assert op["cid"] == CID.decode(created["cid"])
        assert op["record"]["text"] == "first"
        assert op["boundary"] == {"values": [{"value": ENGINEERING}]}

        # Live: a delete made after the replay arrives within the polling interval.
        deleted = svc.post(
            "com.atproto.repo.deleteRecord",
            {"repo": alice, "collection": POST, "rkey": rkey},
            alice,
        )
        assert deleted.status_code == 200
        _, live = _next(ws)
        assert live["seq"] == 3
        (gone,) = live["ops"]
        assert gone["action"] == "delete" and gone["cid"] is None and "record" not in gone
        assert gone["boundary"] == {"values": [{"value": ENGINEERING}]}

        svc.stratos.enrollments.unenroll(alice)
        _, left = _next(ws)
        assert left["seq"] == 4 and left["enrolled"] is False and left["boundaries"] == []


def test_no_cursor_starts_live_and_filters(svc: RunningStratos) -> None:
    alice, bob = new_did(), new_did()
    svc.enroll(alice, "engineering")
    svc.enroll(bob, "design")
    svc.create(alice, post("before subscribing"))
    with (
        _connect(svc, syncToken=SYNC_TOKEN) as everything,
        _connect(svc, syncToken=SYNC_TOKEN, did=bob) as only_bob,
        _connect(svc, syncToken=SYNC_TOKEN, domain=ENGINEERING) as only_eng,
    ):
        svc.create(alice, post("open post"))
        svc.create(alice, post("eng post", [ENGINEERING]))
        svc.create(bob, post("bob's"))
        texts = [_next(everything)[1]["ops"][0]["record"]["text"] for _ in range(3)]
        assert texts == ["open post", "eng post", "bob's"]
        _, bob_event = _next(only_bob)
        assert bob_event["did"] == bob and bob_event["ops"][0]["record"]["text"] == "bob's"
        _, eng_event = _next(only_eng)
        assert eng_event["ops"][0]["record"]["text"] == "eng post"
        with pytest.raises(TimeoutError):
            only_eng.recv(timeout=0.5)
