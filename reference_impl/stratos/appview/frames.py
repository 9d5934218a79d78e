"""ATProto event-stream frames: a DAG-CBOR header followed by a DAG-CBOR body, in one message.

Header ``{"op": 1, "t": "#commit"}`` → a message of that type; ``{"op": -1}`` → an error frame
whose body is ``{"error", "message"}`` (the server closes after it). Anything else is a
protocol violation: the consumer drops the connection and resumes from its saved cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbrrr import decode_multi_dag_cbor_in_violation_of_the_spec


class FrameError(ValueError):
    """Bytes that are not a well-formed event-stream frame."""


@dataclass(frozen=True)
class MessageFrame:
    type: str  # "#commit", "#enrollment", "#info", or a type this consumer does not know
    body: dict[str, Any]  # IPLD form: links are cbrrr.CID, bytes are bytes


@dataclass(frozen=True)
class ErrorFrame:
    error: str
    message: str | None


Frame = MessageFrame | ErrorFrame


def decode_frame(data: bytes) -> Frame:
    """Split and check one binary WebSocket message; raises FrameError."""
    try:
        # The "multi" decoder is the only cbrrr entry point that reports where one value ends;
        # frames are exactly two concatenated values, checked below.
        values = list(decode_multi_dag_cbor_in_violation_of_the_spec(bytes(data)))
    except (ValueError, TypeError, EOFError, OverflowError, RecursionError) as exc:
        raise FrameError(f"invalid DAG-CBOR in frame: {exc}") from None
    if len(values) != 2:
        raise FrameError(f"a frame is a header and a body; got {len(values)} value(s)")
    header, body = values
    if not isinstance(header, dict):
        raise FrameError("frame header is not a map")
    if not isinstance(body, dict):
        raise FrameError("frame body is not a map")
    op = header.get("op")
    if op == -1:
        error = body.get("error")
        if not isinstance(error, str) or not error:
            raise FrameError("error frame without an error name")
        message = body.get("message")
        return ErrorFrame(error, message if isinstance(message, str) else None)
    if op != 1:
        raise FrameError(f"unknown frame op {op!r}")
    kind = header.get("t")
    if not isinstance(kind, str) or not kind:
        raise FrameError("message frame header without a type 't'")
    return MessageFrame(kind, body)
