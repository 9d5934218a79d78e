"""SQLite persistence of the OAuth client: pending logins, sessions, the client key.

Lives in the service's own database (``Database.apply_schema``) so sessions survive a restart.
The tables hold secrets (tokens, DPoP keys, PKCE verifiers) — as any OAuth client must to act
for users later; they are never logged. The login ``state`` is stored hashed: it travels in
URLs, and a leaked database should not let anyone finish a pending login.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...primitives.keys import SigningKey, generate_signing_key, load_signing_key
from ..sqlite import Database

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS oauth_client_pending (
        state_hash TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        handle TEXT NOT NULL,
        pds_url TEXT NOT NULL,
        issuer TEXT NOT NULL,
        token_endpoint TEXT NOT NULL,
        revocation_endpoint TEXT,
        pkce_verifier TEXT NOT NULL,
        dpop_key BLOB NOT NULL,
        extra_state TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS oauth_client_sessions (
        did TEXT PRIMARY KEY,
        handle TEXT,
        pds_url TEXT NOT NULL,
        issuer TEXT NOT NULL,
        token_endpoint TEXT NOT NULL,
        revocation_endpoint TEXT,
        scope TEXT NOT NULL,
        access_token TEXT NOT NULL,
        refresh_token TEXT,
        expires_at REAL,
        dpop_key BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS oauth_client_keys (
        name TEXT PRIMARY KEY,
        curve TEXT NOT NULL,
        private_key BLOB NOT NULL
    )""",
)


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PendingLogin:
    did: str
    handle: str
    pds_url: str
    issuer: str
    token_endpoint: str
    revocation_endpoint: str | None
    pkce_verifier: str = field(repr=False)
    dpop_key: SigningKey = field(repr=False)
    extra_state: Mapping[str, Any]
    expires_at: float


@dataclass(frozen=True)
class Session:
    """A user's OAuth session with their PDS. ``repr`` never shows tokens or keys.

    ``extra_state`` is what the caller passed to ``begin`` for the login that produced this
    session (e.g. the boundaries a user asked for); it is not persisted with the session.
    """

    did: str
    handle: str | None
    pds_url: str
    issuer: str
    token_endpoint: str
    revocation_endpoint: str | None
    scope: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    dpop_key: SigningKey = field(repr=False)
    extra_state: Mapping[str, Any] = field(default_factory=dict, compare=False)


def load_or_create_key(db: Database, name: str) -> SigningKey:
    """A P-256 key kept in the database under ``name`` (created on first use)."""
    db.apply_schema(SCHEMA)
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT curve, private_key FROM oauth_client_keys WHERE name = ?", (name,)
        ).fetchone()
        if row is not None:
            return load_signing_key(row["curve"], bytes(row["private_key"]))
        key = generate_signing_key("p256")
        conn.execute(
            "INSERT INTO oauth_client_keys (name, curve, private_key) VALUES (?, ?, ?)",
            (name, key.curve, key.private_bytes()),
        )
        return key


def _key(blob: bytes) -> SigningKey:
    return load_signing_key("p256", bytes(blob))


class OAuthClientStore:
    """Blocking SQLite operations; the async client calls them from worker threads."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.apply_schema(SCHEMA)

    # -- pending logins ----------------------------------------------------------------------

    def save_pending(self, state: str, pending: PendingLogin, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM oauth_client_pending WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO oauth_client_pending (state_hash, did, handle, pds_url, issuer,"
                " token_endpoint, revocation_endpoint, pkce_verifier, dpop_key, extra_state,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state_hash(state),
                    pending.did,
                    pending.handle,
                    pending.pds_url,
                    pending.issuer,
                    pending.token_endpoint,
                    pending.revocation_endpoint,
                    pending.pkce_verifier,
                    pending.dpop_key.private_bytes(),
                    json.dumps(dict(pending.extra_state)),
                    now,
                    pending.expires_at,
                ),
            )

    def take_pending(self, state: str, now: float) -> PendingLogin | None:
        """Remove and return the pending login of ``state``: a state works exactly once."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "DELETE FROM oauth_client_pending WHERE state_hash = ? RETURNING *",
                (state_hash(state),),
            ).fetchone()
        if row is None or row["expires_at"] <= now:
            return None
        return PendingLogin(
            did=row["did"],
            handle=row["handle"],
            pds_url=row["pds_url"],
            issuer=row["issuer"],
            token_endpoint=row["token_endpoint"],
            revocation_endpoint=row["revocation_endpoint"],
            pkce_verifier=row["pkce_verifier"],
            dpop_key=_key(row["dpop_key"]),
            extra_state=json.loads(row["extra_state"]),
            expires_at=row["expires_at"],
        )

    # -- sessions ------------------------------------------------------------------------------

    def save_session(self, session: Session, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_client_sessions (did, handle, pds_url, issuer, token_endpoint,"
                " revocation_endpoint, scope, access_token, refresh_token, expires_at, dpop_key,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (did) DO UPDATE SET handle = excluded.handle,"
                " pds_url = excluded.pds_url, issuer = excluded.issuer,"
                " token_endpoint = excluded.token_endpoint,"
                " revocation_endpoint = excluded.revocation_endpoint, scope = excluded.scope,"
                " access_token = excluded.access_token, refresh_token = excluded.refresh_token,"
                " expires_at = excluded.expires_at, dpop_key = excluded.dpop_key,"
                # A new login is a new session: forget(logged_in_before=...) relies on this.
                " created_at = excluded.created_at, updated_at = excluded.updated_at",
                (
                    session.did,
                    session.handle,
                    session.pds_url,
                    session.issuer,
                    session.token_endpoint,
                    session.revocation_endpoint,
                    session.scope,
                    session.access_token,
                    session.refresh_token,
                    session.expires_at,
                    session.dpop_key.private_bytes(),
                    now,
                    now,
                ),
            )

    def replace_tokens(self, previous: Session, new: Session, now: float) -> bool:
        """Store a refreshed token pair in one statement, only if the stored refresh token is
        still the one that was spent (so a stale writer can never resurrect a used token)."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE oauth_client_sessions SET access_token = ?, refresh_token = ?,"
                " expires_at = ?, scope = ?, updated_at = ?"
                " WHERE did = ? AND refresh_token IS ?",
                (
                    new.access_token,
                    new.refresh_token,
                    new.expires_at,
                    new.scope,
                    now,
                    previous.did,
                    previous.refresh_token,
                ),
            )
            return cursor.rowcount == 1

    def load_session(self, did: str) -> Session | None:
        row = self._db.query_one("SELECT * FROM oauth_client_sessions WHERE did = ?", (did,))
        if row is None:
            return None
        return Session(
            did=row["did"],
            handle=row["handle"],
            pds_url=row["pds_url"],
            issuer=row["issuer"],
            token_endpoint=row["token_endpoint"],
            revocation_endpoint=row["revocation_endpoint"],
            scope=row["scope"],
            access_token=row["access_token"],
            refresh_token=row["refresh_token"],
            expires_at=row["expires_at"],
            dpop_key=_key(row["dpop_key"]),
        )

    def delete_session(self, did: str, logged_in_before: float | None = None) -> bool:
        """Delete the session of ``did`` (only one created before ``logged_in_before``, if
        given); returns whether a row went."""
        with self._db.transaction() as conn:
            if logged_in_before is None:
                cursor = conn.execute("DELETE FROM oauth_client_sessions WHERE did = ?", (did,))
            else:
                cursor = conn.execute(
                    "DELETE FROM oauth_client_sessions WHERE did = ? AND created_at < ?",
                    (did, logged_in_before),
                )
            return cursor.rowcount == 1
