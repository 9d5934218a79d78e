"""Server secrets (session HMAC key, PLC rotation key, OAuth signing key, nonce key).

Generated on first start and kept in the database, so tokens and DIDs stay valid across restarts.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.sqlite import Database
from ..primitives.keys import SigningKey, generate_signing_key, load_signing_key


@dataclass(frozen=True)
class ServerSecrets:
    session_secret: bytes = field(repr=False)
    nonce_secret: bytes = field(repr=False)
    rotation_key: SigningKey = field(repr=False)
    oauth_key: SigningKey = field(repr=False)


def _load_or_create(db: Database, name: str, make: Callable[[], bytes]) -> bytes:
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM server_secret WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return bytes(row["value"])
        value = make()
        conn.execute("INSERT INTO server_secret (name, value) VALUES (?, ?)", (name, value))
        return value


def load_server_secrets(db: Database) -> ServerSecrets:
    rotation = _load_or_create(
        db, "plc_rotation_key", lambda: generate_signing_key("secp256k1").private_bytes()
    )
    oauth = _load_or_create(
        db, "oauth_signing_key", lambda: generate_signing_key("p256").private_bytes()
    )
    return ServerSecrets(
        session_secret=_load_or_create(db, "session_secret", lambda: secrets.token_bytes(32)),
        nonce_secret=_load_or_create(db, "dpop_nonce_secret", lambda: secrets.token_bytes(32)),
        rotation_key=load_signing_key("secp256k1", rotation),
        oauth_key=load_signing_key("p256", oauth),
    )
