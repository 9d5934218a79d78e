"""The event-stream consumer: follows ``zone.stratos.sync.subscribeRecords`` into the index.

Connects to ``<stratos>/xrpc/zone.stratos.sync.subscribeRecords?syncToken=…&cursor=<saved>``
(http→ws, https→wss), applies each event through ``AppViewIndex.apply`` (effect + cursor in one
transaction), and reconnects with exponential backoff whenever the connection ends.

The cursor is always sent: a subscription *without* one only gets events from now on (the
ATProto firehose convention, which Stratos follows), so a fresh AppView asks for ``cursor=0`` —
seqs start at 1 — to replay the whole log.

What each kind of trouble does:

* connection refused / dropped / handshake refused → reconnect after the backoff delay;
* an error frame (``{"op": -1}``) → logged, the server closes, reconnect after the backoff
  delay. ``AuthRequired`` usually means the sync tokens differ (fixed by restarting one side);
* ``FutureCursor`` → our saved cursor is ahead of the stream, so the stream we indexed is gone
  (Stratos lost or replaced its event log). What we indexed from it cannot be trusted to match
  the new one: the index is cleared and the stream replayed from the start;
* a frame that does not decode, or an event body that is unusable → logged and skipped, the
  connection kept. Dropping the connection would only replay the same bytes from the saved
  cursor and fail again forever.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from .events import CommitEvent, EnrollmentEvent, EventError, InfoEvent, parse_event
from .frames import ErrorFrame, FrameError, decode_frame
from .index import AppViewIndex

SUBSCRIBE_NSID = "zone.stratos.sync.subscribeRecords"
# A commit may carry up to 200 ops with their records; the websockets default (1 MiB) is tight.
MAX_FRAME_BYTES = 16 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class StreamSource:
    stratos_url: str
    sync_token: str
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0


class _NoDebugLogger(logging.LoggerAdapter[logging.Logger]):
    """websockets logs the handshake's request line — our sync token is in its query — at
    DEBUG; it decides once per connection by asking ``isEnabledFor(DEBUG)``, so say no."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class FrameOutcome(enum.Enum):
    APPLIED = "applied"  # an event moved the index forward (or was a harmless replay)
    SKIPPED = "skipped"  # nothing to do: #info, unknown type, or unusable bytes
    CLOSE = "close"  # an error frame: the server is ending this subscription


def subscribe_url(stratos_url: str, sync_token: str, cursor: int) -> str:
    """The WebSocket URL for a subscription replaying every event after seq ``cursor``."""
    parts = urlsplit(stratos_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    params: dict[str, str] = {}
    if sync_token:
        params["syncToken"] = sync_token
    params["cursor"] = str(cursor)
    path = f"{parts.path}/xrpc/{SUBSCRIBE_NSID}"
    return urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))


def backoff_delay(failures: int, minimum_s: float, maximum_s: float) -> float:
    """Seconds to wait before reconnecting after ``failures`` unproductive attempts in a row."""
    if failures <= 0:
        return minimum_s
    return float(min(maximum_s, minimum_s * 2 ** min(failures, 30)))


class StreamConsumer:
    def __init__(
        self, index: AppViewIndex, source: StreamSource, logger: logging.Logger | None = None
    ) -> None:
        self.index = index
        self.source = source
        self.log = logger or logging.getLogger("reference_impl.stratos.appview.stream")
        self.connected = False
        # Every index write happens on this one thread: one SQLite connection, closed on stop.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="appview-index")

    async def run(self) -> None:
        """Consume until cancelled."""
        failures = 0
        while True:
            progressed = await self._session()
            failures = 0 if progressed else failures + 1
            await asyncio.sleep(
                backoff_delay(failures, self.source.reconnect_min_s, self.source.reconnect_max_s)
            )

    async def aclose(self) -> None:
        """Release the writer thread and its connection (after ``run`` was cancelled)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.index.db.close)
        self._writer.shutdown(wait=True)

    async def _session(self) -> bool:
        """One connection, until it ends; True when it moved the index forward."""
        saved = await self._in_writer(self.index.cursor)
        cursor = 0 if saved is None else saved
        url = subscribe_url(self.source.stratos_url, self.source.sync_token, cursor)
        # Never log ``url``: it holds the sync token.
        where = f"{self.source.stratos_url} from cursor {cursor}"
        progressed = False
        try:
            # proxy=None: the stream is a loopback/service-to-service link, never via a proxy
            # picked up from the environment.
            async with connect(
                url,
                proxy=None,
                max_size=MAX_FRAME_BYTES,
                logger=_NoDebugLogger(logging.getLogger("websockets.client"), {}),
            ) as websocket:
                self.connected = True
                self.log.info("subscribed to %s", where)
                async for message in websocket:
                    if isinstance(message, str):
                        self.log.warning("ignoring a text message on the event stream")
                        continue
                    outcome = await self.handle_message(message, cursor_sent=cursor)
                    if outcome is FrameOutcome.APPLIED:
                        progressed = True
                    elif outcome is FrameOutcome.CLOSE:
                        break
        except ConnectionClosed as exc:
            self.log.warning("event stream %s closed: %s", self.source.stratos_url, exc)
        except (OSError, TimeoutError, WebSocketException) as exc:
            self.log.warning("cannot subscribe to %s: %s", where, self._redact(str(exc)))
        except Exception:
            # Anything else (a failing index write, a bug) must not end the consumer for the
            # life of the process: the transaction rolled back, so log, back off and resume
            # from the saved cursor. Cancellation is a BaseException and still stops us.
            self.log.exception("event stream consumer failed; reconnecting")
        finally:
            self.connected = False
        return progressed

    def _redact(self, text: str) -> str:
        # Some exceptions (InvalidURI) quote the URL, and with it the sync token.
        token = self.source.sync_token
        return text.replace(token, "<sync token>") if token else text

    async def handle_message(self, data: bytes, cursor_sent: int) -> FrameOutcome:
        """Apply one binary frame; ``cursor_sent`` is the cursor this subscription asked for."""
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            self.log.warning("skipping an undecodable frame: %s", exc)
            return FrameOutcome.SKIPPED
        if isinstance(frame, ErrorFrame):
            await self._on_error(frame, cursor_sent)
            return FrameOutcome.CLOSE
        try:
            event = parse_event(frame)
        except EventError as exc:
            self.log.warning("skipping an unusable %s event: %s", frame.type, exc)
            return FrameOutcome.SKIPPED
        if event is None:
            self.log.debug("skipping an event of unknown type %s", frame.type)
            return FrameOutcome.SKIPPED
        if isinstance(event, InfoEvent):
            self.log.info("stream info %s: %s", event.name, event.message or "")
            return FrameOutcome.SKIPPED
        return await self._apply(event)

    async def _apply(self, event: CommitEvent | EnrollmentEvent) -> FrameOutcome:
        if isinstance(event, CommitEvent) and event.invalid_ops:
            self.log.warning("seq %s: left out %s", event.seq, "; ".join(event.invalid_ops))
        result = await self._in_writer(lambda: self.index.apply(event))
        if result.refused_ops:
            self.log.warning("seq %s: not indexed %s", event.seq, "; ".join(result.refused_ops))
        return FrameOutcome.APPLIED

    async def _on_error(self, frame: ErrorFrame, cursor_sent: int) -> None:
        detail = f"{frame.error}: {frame.message or ''}"
        if frame.error == "FutureCursor":
            self.log.warning(
                "event stream %s says our cursor %s is in its future (%s); its history was "
                "replaced, so the index is cleared and rebuilt from the start",
                self.source.stratos_url,
                cursor_sent,
                detail,
            )
            await self._in_writer(self.index.reset)
        elif frame.error == "AuthRequired":
            self.log.error(
                "event stream %s refused our sync token (%s); check STRATOS_APPVIEW_SYNC_TOKEN",
                self.source.stratos_url,
                detail,
            )
        else:
            self.log.error("event stream %s error %s", self.source.stratos_url, detail)

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)
