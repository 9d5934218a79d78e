"""ExchangeRecorder: bodies captured and redacted, test scoping, find(), JSONL, async hooks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from conformance.clients.dpop import DpopAuth, DpopKey
from conformance.evidence import (
    Exchange,
    ExchangeRecorder,
    exchange_from_response,
    read_jsonl,
    snapshot_body,
)
from conformance.localserver import free_port
from conformance.redact import REDACTED, Redactor


def _client(recorder: ExchangeRecorder) -> httpx.Client:
    return httpx.Client(event_hooks=recorder.event_hooks())


def test_request_and_response_are_captured_and_redacted(echo_server: str) -> None:
    redactor = Redactor()
    redactor.add("hunter2-password")
    recorder = ExchangeRecorder(redactor)
    with _client(recorder) as client:
        response = client.post(
            f"{echo_server}/xrpc/com.atproto.server.createSession",
            json={"identifier": "alice.test", "password": "hunter2-password"},
            headers={"Authorization": "Bearer abc.def.ghi"},
        )
        session = client.post(f"{echo_server}/canned/session")
    assert response.status_code == 200
    first, second = recorder.exchanges()
    assert first.request.method == "POST"
    assert json.loads(first.request.body.text) == {"identifier": "alice.test", "password": REDACTED}
    assert ("authorization", REDACTED) in first.request.headers
    # The echo repeats the password and the Authorization header in its response body.
    assert "hunter2-password" not in first.response.body.text  # type: ignore[union-attr]
    assert "abc.def.ghi" not in first.response.body.text  # type: ignore[union-attr]
    assert first.response is not None and first.response.status == 200
    assert first.elapsed_ms is not None and first.elapsed_ms >= 0
    body = json.loads(second.response.body.text)  # type: ignore[union-attr]
    assert body["accessJwt"] == REDACTED and body["refreshJwt"] == REDACTED
    assert body["did"] == "did:plc:abc"
    assert ("set-cookie", REDACTED) in second.response.headers  # type: ignore[union-attr]
    # The caller still sees the real response.
    assert session.json()["refreshJwt"] == "opaque-refresh-token-xyz"


def test_form_bodies_and_urls_are_redacted(echo_server: str) -> None:
    recorder = ExchangeRecorder(Redactor())
    with _client(recorder) as client:
        client.post(
            f"{echo_server}/oauth/token?code=in-the-query",
            data={
                "grant_type": "authorization_code",
                "code": "the-code",
                "code_verifier": "v" * 43,
            },
        )
        client.get(f"{echo_server}/canned/redirect")
    token, redirect = recorder.exchanges()
    assert "in-the-query" not in token.request.url
    assert "the-code" not in token.request.body.text and "v" * 43 not in token.request.body.text
    assert "grant_type=authorization_code" in token.request.body.text
    location = dict(redirect.response.headers)["location"]  # type: ignore[union-attr]
    assert "the-auth-code-1" not in location and "state=st" in location


def test_binary_and_large_bodies(echo_server: str) -> None:
    recorder = ExchangeRecorder(Redactor(), body_limit=1024)
    with _client(recorder) as client:
        car = client.get(f"{echo_server}/canned/car")
        big = client.get(f"{echo_server}/canned/big")
    car_ex, big_ex = recorder.find(car), recorder.find(big)
    assert car_ex is not None and big_ex is not None
    size = len(car.content)
    assert car_ex.response.body.text == f"<{size} bytes application/vnd.ipld.car>"  # type: ignore[union-attr]
    assert car_ex.response.body.binary  # type: ignore[union-attr]
    big_body = big_ex.response.body  # type: ignore[union-attr]
    assert big_body.truncated and big_body.size == 20000
    assert big_body.text.startswith("x" * 1024) and "20000 bytes in full" in big_body.text
    assert len(big_body.text) < 1200


def test_snapshot_body_redacts_before_truncating() -> None:
    redactor = Redactor()
    secret = "s" * 40
    redactor.add(secret)
    text = ("a" * 90 + secret).encode()
    body = snapshot_body(text, "text/plain", redactor, limit=100)
    assert "s" * 10 not in body.text  # the secret was cut only after being replaced


def test_test_scoping_and_for_test(echo_server: str) -> None:
    recorder = ExchangeRecorder(Redactor())
    with _client(recorder) as client:
        client.get(f"{echo_server}/outside")
        with recorder.scope("tests/test_x.py::test_a"):
            client.get(f"{echo_server}/a1")
            with recorder.scope("tests/test_x.py::test_b"):
                client.get(f"{echo_server}/b1")
            client.get(f"{echo_server}/a2")
        recorder.set_test_id("tests/test_x.py::test_c")
        client.get(f"{echo_server}/c1")
    paths = lambda tid: [e.request.url.rsplit("/", 1)[1] for e in recorder.for_test(tid)]  # noqa: E731
    assert paths("tests/test_x.py::test_a") == ["a1", "a2"]
    assert paths("tests/test_x.py::test_b") == ["b1"]
    assert paths("tests/test_x.py::test_c") == ["c1"]
    assert recorder.exchanges()[0].test_id is None


def test_find_maps_each_response_of_a_dpop_retry(nonce_server) -> None:
    url, _state = nonce_server
    redactor = Redactor()
    recorder = ExchangeRecorder(redactor)
    auth = DpopAuth(DpopKey.generate(), "access-token-value", secret_sink=redactor.add)
    with _client(recorder) as client:
        response = client.get(f"{url}/rs/resource", auth=auth)
    challenged = recorder.find(response.history[0])
    final = recorder.find(response)
    assert challenged is not None and final is not None and challenged.id != final.id
    assert challenged.response.status == 401  # type: ignore[union-attr]
    assert final.response.status == 200  # type: ignore[union-attr]
    assert recorder.find(httpx.Response(200)) is None
    for exchange in (challenged, final):
        headers = dict(exchange.request.headers)
        assert headers["dpop"] == REDACTED and headers["authorization"] == REDACTED
    assert recorder.annotate(response, "retried with access-token-value") is not None
    assert recorder.find(response).note == f"retried with {REDACTED}"  # type: ignore[union-attr]


def test_transport_error_leaves_a_request_without_response() -> None:
    recorder = ExchangeRecorder(Redactor())
    port = free_port()
    with _client(recorder) as client:
        try:
            client.get(f"http://127.0.0.1:{port}/nothing-here", timeout=2)
        except httpx.TransportError:
            pass
    (exchange,) = recorder.exchanges()
    assert exchange.response is None and exchange.elapsed_ms is None


def test_jsonl_round_trip(echo_server: str, tmp_path: Path) -> None:
    recorder = ExchangeRecorder(Redactor())
    with _client(recorder) as client, recorder.scope("t1"):
        client.get(f"{echo_server}/one?x=1")
        client.get(f"{echo_server}/canned/car")
    path = tmp_path / "evidence" / "exchanges.jsonl"
    assert recorder.write_jsonl(path) == 2
    again = read_jsonl(path)
    assert again == recorder.exchanges()
    assert Exchange.from_dict(again[0].to_dict()) == again[0]


def test_async_hooks(echo_server: str) -> None:
    redactor = Redactor()
    recorder = ExchangeRecorder(redactor)

    async def main() -> None:
        async with httpx.AsyncClient(event_hooks=recorder.async_event_hooks()) as client:
            with recorder.scope("async"):
                await asyncio.gather(
                    client.post(f"{echo_server}/x", json={"password": "async-password"}),
                    client.get(f"{echo_server}/canned/session"),
                )

    asyncio.run(main())
    exchanges = recorder.for_test("async")
    assert len(exchanges) == 2 and all(e.response is not None for e in exchanges)
    dumped = json.dumps([e.to_dict() for e in exchanges])
    assert "async-password" not in dumped and "opaque-refresh-token-xyz" not in dumped


def test_exchange_from_an_unrecorded_response(echo_server: str) -> None:
    redactor = Redactor()
    with httpx.Client() as client:
        response = client.get(f"{echo_server}/canned/session")
    exchange = exchange_from_response(response, redactor, test_id="t", note="n")
    assert exchange.test_id == "t" and exchange.note == "n"
    assert "opaque-refresh-token-xyz" not in json.dumps(exchange.to_dict())
    assert exchange.elapsed_ms is not None
