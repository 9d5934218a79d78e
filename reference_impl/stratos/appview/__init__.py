"""The reference Stratos AppView: follows Stratos's event stream and serves timelines.

It subscribes to ``zone.stratos.sync.subscribeRecords`` with the shared sync token, indexes
posts and enrollments in its own SQLite file (the stream cursor is saved in the same transaction
as each event's effect), and serves ``zone.stratos.feed.getTimeline`` to authenticated viewers
under the boundary rule of docs/stratos.md.

Modules, one job each:

* ``config``      settings from ``STRATOS_APPVIEW_*``
* ``frames``      event-stream frame bytes -> header + body (pure)
* ``events``      frame -> typed ``#commit`` / ``#enrollment`` / ``#info`` events (pure)
* ``posts``       a record op -> the row the index stores (pure)
* ``visibility``  the boundary rule (pure)
* ``timeline``    page cursors and the lexicon view of a post (pure)
* ``index``       the SQLite index
* ``stream``      the WebSocket consumer (reconnects, backoff, cursor)
* ``auth``        the default authenticator
* ``app``         the ASGI app
"""
