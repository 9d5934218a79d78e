"""Compact JWS signing with repo keys (ES256K / ES256, low-S raw signatures as ATProto wants)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from ..primitives.keys import SigningKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_jwt(
    claims: Mapping[str, Any], key: SigningKey, extra_headers: Mapping[str, Any] | None = None
) -> str:
    header = {"typ": "JWT", "alg": key.jwt_alg, **(extra_headers or {})}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in (header, dict(claims))
    )
    return f"{signing_input}.{_b64url(key.sign(signing_input.encode('ascii')))}"
