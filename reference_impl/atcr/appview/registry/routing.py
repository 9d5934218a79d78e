"""Which resource a ``/v2/`` path names. Pure.

Repository names have several segments, so Starlette's router cannot split them; the tail is
matched here from the right, as CNCF Distribution's router does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind -> pattern over the path after ``/v2/``; the name is greedy, so the last occurrence of
# ``/blobs/``, ``/manifests/`` ... decides. Order matters: uploads before blobs.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("upload_start", re.compile(r"^(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)$")),
    ("blob", re.compile(r"^(?P<name>.+)/blobs/(?P<arg>[^/]+)$")),
    ("manifest", re.compile(r"^(?P<name>.+)/manifests/(?P<arg>[^/]+)$")),
    ("tags", re.compile(r"^(?P<name>.+)/tags/list$")),
    ("referrers", re.compile(r"^(?P<name>.+)/referrers/(?P<arg>[^/]+)$")),
)

METHODS: dict[str, frozenset[str]] = {
    "base": frozenset({"GET", "HEAD"}),
    "blob": frozenset({"GET", "HEAD", "DELETE"}),
    "upload_start": frozenset({"POST"}),
    "upload": frozenset({"GET", "PATCH", "PUT", "DELETE"}),
    "manifest": frozenset({"GET", "HEAD", "PUT", "DELETE"}),
    "tags": frozenset({"GET"}),
    "referrers": frozenset({"GET"}),
}

# Longer than any name (255) plus the longest tail; refuse before running the patterns.
MAX_TAIL = 1024


@dataclass(frozen=True)
class Target:
    kind: str
    name: str | None = None
    arg: str | None = None


def match_path(tail: str) -> Target | None:
    """``tail`` is the raw path after ``/v2/`` (without the query)."""
    if tail == "":
        return Target("base")
    if len(tail) > MAX_TAIL:
        return None
    for kind, pattern in _PATTERNS:
        match = pattern.match(tail)
        if match is not None:
            return Target(kind, match.group("name"), match.groupdict().get("arg"))
    return None
