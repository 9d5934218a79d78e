"""Building the JSON-path-like strings that locate a problem inside a value."""

from __future__ import annotations

import re

__all__ = ["ROOT", "child", "item"]

ROOT = "$"
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def child(path: str, key: str) -> str:
    """`$.boundary` for ordinary keys; bracket form for keys a reader could misparse."""
    if _PLAIN_KEY_RE.fullmatch(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{escaped}"]'


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"
