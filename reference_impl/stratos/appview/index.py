"""The AppView's SQLite index: posts, enrollments and the stream cursor.

Each event's effect and the cursor move in one transaction, and an event at or below the saved
cursor is a no-op. Together: a crash between receiving and committing loses nothing (the event
is replayed from the saved cursor), and a replay never duplicates a post or resurrects a deleted
one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...common.sqlite import Database
from .events import CommitEvent, EnrollmentEvent
from .posts import Boundary, IndexedPost, PostError, format_time, indexed_post, is_post, post_uri
from .timeline import Position
from .visibility import Viewer, may_view

SCHEMA = (
    # One row: the seq of the last event applied, and which stream it came from.
    """CREATE TABLE IF NOT EXISTS stream_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        source TEXT NOT NULL,
        cursor INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS posts (
        uri TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        rkey TEXT NOT NULL,
        cid TEXT NOT NULL,
        record TEXT NOT NULL,
        bounded INTEGER NOT NULL,
        domains TEXT NOT NULL,
        created_at TEXT,
        sort_at TEXT NOT NULL,
        indexed_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS posts_by_time ON posts (sort_at DESC, uri DESC)",
    "CREATE INDEX IF NOT EXISTS posts_by_author ON posts (did, sort_at DESC, uri DESC)",
    """CREATE TABLE IF NOT EXISTS enrollments (
        did TEXT PRIMARY KEY,
        enrolled INTEGER NOT NULL,
        boundaries TEXT NOT NULL,
        seq INTEGER NOT NULL
    )""",
)

# Candidate rows read per query while filling a timeline page.
_BATCH = 200


@dataclass(frozen=True)
class ApplyResult:
    applied: bool  # False: the event was at or below the saved cursor (a replay), so ignored
    refused_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelinePage:
    posts: tuple[IndexedPost, ...]
    next_page: Position | None


class AppViewIndex:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    @classmethod
    def open(cls, data_dir: Path, clock: Callable[[], float] = time.time) -> AppViewIndex:
        return cls(Database(data_dir / "appview.sqlite", SCHEMA), clock)

    # --- the stream cursor -------------------------------------------------------------------

    def bind_source(self, source: str) -> bool:
        """Tie the index to one event stream; True when it was reset.

        Seqs mean nothing across streams, so a saved cursor (and what it indexed) from another
        Stratos is dropped and the new stream replays from the start.
        """
        with self.db.transaction() as conn:
            row = conn.execute("SELECT source FROM stream_state WHERE id = 1").fetchone()
            if row is not None and row["source"] == source:
                return False
            reset = row is not None
            if reset:
                _clear(conn)
            conn.execute(
                "INSERT OR REPLACE INTO stream_state (id, source, cursor) VALUES (1, ?, NULL)",
                (source,),
            )
            return reset

    def cursor(self) -> int | None:
        row = self.db.query_one("SELECT cursor FROM stream_state WHERE id = 1")
        return None if row is None else row["cursor"]

    def reset(self) -> None:
        """Forget everything indexed and the cursor (the stream no longer has our history)."""
        with self.db.transaction() as conn:
            _clear(conn)
            conn.execute("UPDATE stream_state SET cursor = NULL WHERE id = 1")

    # --- applying events ---------------------------------------------------------------------

    def apply(self, event: CommitEvent | EnrollmentEvent) -> ApplyResult:
        indexed_at = format_time(self.clock())
        with self.db.transaction() as conn:
            row = conn.execute("SELECT cursor FROM stream_state WHERE id = 1").fetchone()
            saved = None if row is None else row["cursor"]
            if saved is not None and event.seq <= saved:
                return ApplyResult(applied=False)
            refused: tuple[str, ...] = ()
            if isinstance(event, CommitEvent):
                refused = _apply_commit(conn, event, indexed_at)
            else:
                _apply_enrollment(conn, event)
            if row is None:
                # No bind_source call (tests of the index alone): record an anonymous stream.
                conn.execute(
                    "INSERT INTO stream_state (id, source, cursor) VALUES (1, '', ?)",
                    (event.seq,),
                )
            else:
                conn.execute("UPDATE stream_state SET cursor = ? WHERE id = 1", (event.seq,))
            return ApplyResult(applied=True, refused_ops=refused)

    # --- reading -----------------------------------------------------------------------------

    def viewer(self, did: str) -> Viewer:
        with self.db.snapshot() as conn:
            return _viewer(conn, did)

    def post(self, uri: str) -> IndexedPost | None:
        row = self.db.query_one("SELECT * FROM posts WHERE uri = ?", (uri,))
        return None if row is None else _post(row)

    def timeline(self, viewer_did: str, limit: int, after: Position | None) -> TimelinePage:
        """Up to ``limit`` posts the viewer may read, newest first, older than ``after``."""
        with self.db.snapshot() as conn:
            viewer = _viewer(conn, viewer_did)
            visible: list[IndexedPost] = []
            position = after
            # The query narrows to a superset of what the viewer may read (an unenrolled viewer
            # can only ever read their own posts); visibility.may_view decides, so the rule
            # lives in one place.
            while len(visible) <= limit:
                rows = _candidates(conn, viewer, position)
                for row in rows:
                    post = _post(row)
                    if may_view(viewer, post.did, post.boundary):
                        visible.append(post)
                if len(rows) < _BATCH:
                    break
                position = Position(rows[-1]["sort_at"], rows[-1]["uri"])
        if len(visible) > limit:
            last = visible[limit - 1]
            return TimelinePage(tuple(visible[:limit]), Position(last.sort_at, last.uri))
        return TimelinePage(tuple(visible), None)


def _clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM posts")
    conn.execute("DELETE FROM enrollments")


def _apply_commit(conn: sqlite3.Connection, event: CommitEvent, indexed_at: str) -> tuple[str, ...]:
    refused: list[str] = []
    for op in event.ops:
        if not is_post(op):
            continue
        if op.action == "delete":
            conn.execute("DELETE FROM posts WHERE uri = ?", (post_uri(event.did, op.rkey),))
            continue
        try:
            post = indexed_post(event.did, op, indexed_at)
        except PostError as exc:
            refused.append(f"{op.collection}/{op.rkey}: {exc}")
            continue
        created_at = post.record.get("createdAt")
        conn.execute(
            """INSERT OR REPLACE INTO posts
               (uri, did, rkey, cid, record, bounded, domains, created_at, sort_at, indexed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                post.uri,
                post.did,
                post.rkey,
                post.cid,
                json.dumps(post.record, separators=(",", ":")),
                int(post.boundary.bounded),
                json.dumps(sorted(post.boundary.domains)),
                created_at if isinstance(created_at, str) else None,
                post.sort_at,
                post.indexed_at,
            ),
        )
    return tuple(refused)


def _apply_enrollment(conn: sqlite3.Connection, event: EnrollmentEvent) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO enrollments (did, enrolled, boundaries, seq) VALUES (?, ?, ?, ?)",
        (event.did, int(event.enrolled), json.dumps(list(event.boundaries)), event.seq),
    )
    if not event.enrolled:
        # Stratos deleted the user's repository; their posts leave every timeline with it.
        conn.execute("DELETE FROM posts WHERE did = ?", (event.did,))


def _viewer(conn: sqlite3.Connection, did: str) -> Viewer:
    row = conn.execute(
        "SELECT enrolled, boundaries FROM enrollments WHERE did = ?", (did,)
    ).fetchone()
    if row is None or not row["enrolled"]:
        return Viewer(did, False, frozenset())
    return Viewer(did, True, frozenset(json.loads(row["boundaries"])))


def _candidates(
    conn: sqlite3.Connection, viewer: Viewer, after: Position | None
) -> list[sqlite3.Row]:
    where: list[str] = []
    params: list[object] = []
    if not viewer.enrolled:
        where.append("did = ?")
        params.append(viewer.did)
    if after is not None:
        where.append("(sort_at, uri) < (?, ?)")
        params.extend((after.sort_at, after.uri))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT * FROM posts {clause} ORDER BY sort_at DESC, uri DESC LIMIT ?"  # noqa: S608 (fixed fragments only)
    return conn.execute(sql, (*params, _BATCH)).fetchall()


def _post(row: sqlite3.Row) -> IndexedPost:
    return IndexedPost(
        uri=row["uri"],
        did=row["did"],
        rkey=row["rkey"],
        cid=row["cid"],
        record=json.loads(row["record"]),
        boundary=Boundary(bool(row["bounded"]), frozenset(json.loads(row["domains"]))),
        sort_at=row["sort_at"],
        indexed_at=row["indexed_at"],
    )
