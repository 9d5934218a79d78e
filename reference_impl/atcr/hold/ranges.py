"""HTTP ``Range: bytes=…`` for blob reads (RFC 9110 §14). Pure.

One range only: a multi-range or malformed header is ignored (the whole blob is sent, which
RFC 9110 allows); a syntactically valid range that starts past the end is unsatisfiable (416).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The requested range clipped to ``size``; None for "send everything"."""
    if not header:
        return None
    match = _SPEC.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        raise RangeNotSatisfiable("range starts past the end")
    end = size if last == "" else min(int(last) + 1, size)
    return ByteRange(start, end)
