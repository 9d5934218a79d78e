"""SQLite persistence of the OAuth server, in the PDS's own database file.

Secrets (request URIs, codes, refresh tokens) are stored as SHA-256 hashes only. Every
consume-once step (a PAR request, a code, a refresh token) is a conditional update inside one
immediate transaction, so two concurrent redemptions cannot both succeed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...common.sqlite import Database

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS oauth_par_requests (
        request_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        client_auth_method TEXT NOT NULL,
        dpop_jkt TEXT NOT NULL,
        params_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        consumed_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS oauth_sessions (
        session_id TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        client_id TEXT NOT NULL,
        client_auth_method TEXT NOT NULL,
        scope TEXT NOT NULL,
        dpop_jkt TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS oauth_sessions_did ON oauth_sessions(did)",
    """CREATE TABLE IF NOT EXISTS oauth_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        client_auth_method TEXT NOT NULL,
        did TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        scope TEXT NOT NULL,
        dpop_jkt TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        consumed_at REAL,
        session_id TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS oauth_refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES oauth_sessions(session_id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS oauth_refresh_session ON oauth_refresh_tokens(session_id)",
    """CREATE TABLE IF NOT EXISTS oauth_access_tokens (
        jti TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES oauth_sessions(session_id) ON DELETE CASCADE,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS oauth_access_session ON oauth_access_tokens(session_id)",
)

# Spent PAR requests and codes are kept a while after expiry so a late replay is still
# recognised as a replay (and revokes what the first redemption issued).
_SPENT_RETENTION_S = 24 * 3600


@dataclass(frozen=True)
class ParRecord:
    client_id: str
    client_auth_method: str
    dpop_jkt: str
    params: dict[str, Any]
    expires_at: float
    consumed_at: float | None


@dataclass(frozen=True)
class CodeRecord:
    client_id: str
    client_auth_method: str
    did: str
    redirect_uri: str
    code_challenge: str
    scope: str
    dpop_jkt: str
    expires_at: float
    session_id: str | None


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    did: str
    client_id: str
    client_auth_method: str
    scope: str
    dpop_jkt: str
    revoked_at: float | None


@dataclass(frozen=True)
class RefreshRecord:
    session: SessionRecord
    expires_at: float
    used_at: float | None


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        session_id=row["session_id"],
        did=row["did"],
        client_id=row["client_id"],
        client_auth_method=row["client_auth_method"],
        scope=row["scope"],
        dpop_jkt=row["dpop_jkt"],
        revoked_at=row["revoked_at"],
    )


class OAuthStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.apply_schema(SCHEMA)

    # -- pushed authorization requests ------------------------------------------------------

    def save_par(
        self,
        request_hash: str,
        client_id: str,
        client_auth_method: str,
        dpop_jkt: str,
        params: dict[str, Any],
        now: float,
        expires_at: float,
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_par_requests (request_hash, client_id, client_auth_method,"
                " dpop_jkt, params_json, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request_hash,
                    client_id,
                    client_auth_method,
                    dpop_jkt,
                    json.dumps(params),
                    now,
                    expires_at,
                ),
            )

    def get_par(self, request_hash: str) -> ParRecord | None:
        row = self._db.query_one(
            "SELECT * FROM oauth_par_requests WHERE request_hash = ?", (request_hash,)
        )
        if row is None:
            return None
        return ParRecord(
            client_id=row["client_id"],
            client_auth_method=row["client_auth_method"],
            dpop_jkt=row["dpop_jkt"],
            params=json.loads(row["params_json"]),
            expires_at=row["expires_at"],
            consumed_at=row["consumed_at"],
        )

    def consume_par(self, request_hash: str, now: float) -> bool:
        """Mark a live request used; False when it was already used, expired or unknown."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE oauth_par_requests SET consumed_at = ? WHERE request_hash = ?"
                " AND consumed_at IS NULL AND expires_at > ?",
                (now, request_hash, now),
            )
            return cur.rowcount == 1

    # -- authorization codes ----------------------------------------------------------------

    def save_code(self, code_hash: str, record: CodeRecord, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_codes (code_hash, client_id, client_auth_method, did,"
                " redirect_uri, code_challenge, scope, dpop_jkt, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code_hash,
                    record.client_id,
                    record.client_auth_method,
                    record.did,
                    record.redirect_uri,
                    record.code_challenge,
                    record.scope,
                    record.dpop_jkt,
                    now,
                    record.expires_at,
                ),
            )

    def take_code(self, code_hash: str, now: float) -> tuple[CodeRecord, bool] | None:
        """The code's record and whether this is its first redemption; it is spent either way."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM oauth_codes WHERE code_hash = ?", (code_hash,)
            ).fetchone()
            if row is None:
                return None
            first = row["consumed_at"] is None
            if first:
                conn.execute(
                    "UPDATE oauth_codes SET consumed_at = ? WHERE code_hash = ?", (now, code_hash)
                )
        record = CodeRecord(
            client_id=row["client_id"],
            client_auth_method=row["client_auth_method"],
            did=row["did"],
            redirect_uri=row["redirect_uri"],
            code_challenge=row["code_challenge"],
            scope=row["scope"],
            dpop_jkt=row["dpop_jkt"],
            expires_at=row["expires_at"],
            session_id=row["session_id"],
        )
        return record, first

    # -- sessions and tokens ----------------------------------------------------------------

    def create_session(
        self,
        session: SessionRecord,
        code_hash: str,
        refresh_hash: str | None,
        refresh_expires_at: float,
        access_jti: str,
        access_expires_at: float,
        now: float,
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_sessions (session_id, did, client_id, client_auth_method, scope,"
                " dpop_jkt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.session_id,
                    session.did,
                    session.client_id,
                    session.client_auth_method,
                    session.scope,
                    session.dpop_jkt,
                    now,
                ),
            )
            # Linking the code lets a replayed code revoke what its first redemption issued.
            conn.execute(
                "UPDATE oauth_codes SET session_id = ? WHERE code_hash = ?",
                (session.session_id, code_hash),
            )
            if refresh_hash is not None:
                conn.execute(
                    "INSERT INTO oauth_refresh_tokens"
                    " (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (refresh_hash, session.session_id, now, refresh_expires_at),
                )
            conn.execute(
                "INSERT INTO oauth_access_tokens (jti, session_id, expires_at) VALUES (?, ?, ?)",
                (access_jti, session.session_id, access_expires_at),
            )

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        row = self._db.query_one(
            "SELECT s.*, r.expires_at AS r_expires_at, r.used_at AS r_used_at"
            " FROM oauth_refresh_tokens r JOIN oauth_sessions s ON s.session_id = r.session_id"
            " WHERE r.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        return RefreshRecord(
            session=_session(row), expires_at=row["r_expires_at"], used_at=row["r_used_at"]
        )

    def rotate_refresh(
        self,
        old_hash: str,
        session_id: str,
        new_hash: str,
        new_expires_at: float,
        access_jti: str,
        access_expires_at: float,
        now: float,
    ) -> bool:
        """Spend ``old_hash`` and record its successors; False when it was spent concurrently
        or the session was revoked meanwhile (nothing is written then)."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE oauth_refresh_tokens SET used_at = ?"
                " WHERE token_hash = ? AND used_at IS NULL AND EXISTS"
                " (SELECT 1 FROM oauth_sessions WHERE session_id = ? AND revoked_at IS NULL)",
                (now, old_hash, session_id),
            )
            if cur.rowcount != 1:
                return False
            conn.execute(
                "INSERT INTO oauth_refresh_tokens (token_hash, session_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (new_hash, session_id, now, new_expires_at),
            )
            conn.execute(
                "INSERT INTO oauth_access_tokens (jti, session_id, expires_at) VALUES (?, ?, ?)",
                (access_jti, session_id, access_expires_at),
            )
            return True

    def revoke_session(self, session_id: str, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE oauth_sessions SET revoked_at = ?"
                " WHERE session_id = ? AND revoked_at IS NULL",
                (now, session_id),
            )

    def session_of_access_token(self, jti: str) -> SessionRecord | None:
        row = self._db.query_one(
            "SELECT s.* FROM oauth_access_tokens a"
            " JOIN oauth_sessions s ON s.session_id = a.session_id WHERE a.jti = ?",
            (jti,),
        )
        return None if row is None else _session(row)

    def purge(self, now: float) -> None:
        """Drop rows nothing can use any more."""
        spent_before = now - _SPENT_RETENTION_S
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM oauth_par_requests WHERE expires_at < ?", (spent_before,))
            conn.execute("DELETE FROM oauth_codes WHERE expires_at < ?", (spent_before,))
            conn.execute("DELETE FROM oauth_access_tokens WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM oauth_refresh_tokens WHERE expires_at < ?", (now,))
            conn.execute(
                "DELETE FROM oauth_sessions AS s WHERE s.created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens r"
                "                 WHERE r.session_id = s.session_id)"
                " AND NOT EXISTS (SELECT 1 FROM oauth_access_tokens a"
                "                 WHERE a.session_id = s.session_id)"
                " AND NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.session_id = s.session_id)",
                (spent_before,),
            )
