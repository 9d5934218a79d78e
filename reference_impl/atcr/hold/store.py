"""The Hold's SQLite file (``<data-dir>/hold.sqlite``): its key, its repo, upload state.

Other modules own their queries; this file owns the tables. WAL + synchronous=FULL (common
Database) so an acknowledged upload step survives ``kill -9``.
"""

from __future__ import annotations

from pathlib import Path

from ...common.sqlite import Database

DB_NAME = "hold.sqlite"

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS hold_secret (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS repo_block (
        cid BLOB PRIMARY KEY,
        content BLOB NOT NULL,
        rev TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS repo_root (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        commit_cid TEXT NOT NULL,
        rev TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS record (
        collection TEXT NOT NULL,
        rkey TEXT NOT NULL,
        cid TEXT NOT NULL,
        PRIMARY KEY (collection, rkey)
    )""",
    """CREATE TABLE IF NOT EXISTS upload (
        id TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        digest TEXT NOT NULL,
        storage_token TEXT NOT NULL,
        size INTEGER,
        media_type TEXT,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS upload_part (
        upload_id TEXT NOT NULL REFERENCES upload(id) ON DELETE CASCADE,
        part_number INTEGER NOT NULL,
        etag TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    )""",
)


def open_database(data_dir: Path) -> Database:
    return Database(data_dir / DB_NAME, SCHEMA)
