"""Timeline pages: the opaque cursor and the lexicon view of a post (pure).

Order is newest first by (createdAt normalised, uri); the uri breaks ties so that posts with the
same createdAt are neither skipped nor repeated across pages.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from .posts import IndexedPost

_SORT_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class CursorError(ValueError):
    """A cursor this AppView did not hand out."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the next page holds posts strictly older than this."""

    sort_at: str
    uri: str


def encode_cursor(position: Position) -> str:
    # base64url so clients treat it as opaque and it needs no escaping in a query string.
    raw = f"{position.sort_at} {position.uri}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise CursorError(f"invalid cursor: {exc}") from None
    sort_at, sep, uri = raw.partition(" ")
    if not sep or not _SORT_AT.match(sort_at) or not uri.startswith("at://"):
        raise CursorError("invalid cursor")
    return Position(sort_at, uri)


def post_view(post: IndexedPost) -> dict[str, Any]:
    """``zone.stratos.feed.defs#postView``."""
    view: dict[str, Any] = {
        "uri": post.uri,
        "cid": post.cid,
        "author": {"did": post.did},
        "record": post.record,
        "indexedAt": post.indexed_at,
    }
    if post.boundary.bounded:
        view["boundary"] = {"values": [{"value": d} for d in sorted(post.boundary.domains)]}
    return view


def timeline_output(posts: list[IndexedPost], next_page: Position | None) -> dict[str, Any]:
    """``zone.stratos.feed.getTimeline`` output; ``cursor`` only when another page exists."""
    output: dict[str, Any] = {"feed": [{"post": post_view(p)} for p in posts]}
    if next_page is not None:
        output["cursor"] = encode_cursor(next_page)
    return output
