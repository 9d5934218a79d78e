"""Small helpers shared by the reference PDS tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


def new_account(
    http: httpx.Client, base: str, password: str = "correct horse battery"
) -> dict[str, Any]:
    handle = f"t{secrets.token_hex(5)}.test"
    response = http.post(
        f"{base}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "password": password},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["password"] = password
    return body


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessJwt']}"}


def post_record(text: str) -> dict[str, Any]:
    return {
        "$type": "zone.stratos.feed.post",
        "text": text,
        "createdAt": "2026-11-20T12:00:00.000Z",
    }
