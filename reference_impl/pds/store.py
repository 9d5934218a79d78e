"""The PDS's SQLite schema. Other modules own their queries; this file owns the tables."""

from __future__ import annotations

from pathlib import Path

from ..common.sqlite import Database

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS server_secret (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS account (
        did TEXT PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        email TEXT,
        password_hash TEXT NOT NULL,
        signing_key BLOB NOT NULL,
        plc_operation BLOB NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS app_password (
        did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        privileged INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (did, name)
    )""",
    """CREATE TABLE IF NOT EXISTS refresh_token (
        id TEXT PRIMARY KEY,
        did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
        app_password_name TEXT,
        expires_at INTEGER NOT NULL,
        next_id TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS repo_root (
        did TEXT PRIMARY KEY REFERENCES account(did) ON DELETE CASCADE,
        commit_cid TEXT NOT NULL,
        rev TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS repo_block (
        did TEXT NOT NULL,
        cid BLOB NOT NULL,
        content BLOB NOT NULL,
        rev TEXT NOT NULL,
        PRIMARY KEY (did, cid)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS record (
        did TEXT NOT NULL,
        collection TEXT NOT NULL,
        rkey TEXT NOT NULL,
        cid TEXT NOT NULL,
        rev TEXT NOT NULL,
        PRIMARY KEY (did, collection, rkey)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS blob (
        did TEXT NOT NULL,
        cid TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        content BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (did, cid)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS record_blob (
        did TEXT NOT NULL,
        collection TEXT NOT NULL,
        rkey TEXT NOT NULL,
        blob_cid TEXT NOT NULL,
        rev TEXT NOT NULL,
        PRIMARY KEY (did, collection, rkey, blob_cid)
    ) WITHOUT ROWID""",
)


def open_database(data_dir: Path) -> Database:
    return Database(data_dir / "pds.sqlite", SCHEMA)
