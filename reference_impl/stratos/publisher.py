"""Publishing stored commits: to the hooks (stubs in the PDS) and to the event log.

A commit and its publication cannot share a transaction (they live in different SQLite files),
so the commit's transaction also queues the publication in the user's database. Publishing then
runs hooks, appends to the event log (idempotent per commit) and clears the queue entry. A crash
in between leaves the entry queued, and it is published again on the user's next write or at
startup: hooks see each commit at least once, the event log exactly once.
"""

from __future__ import annotations

import logging

from .events import CommitPublication, EventLog
from .hooks import StratosHooks
from .records import STRATOS_NAMESPACE
from .repos import RepoService

log = logging.getLogger("reference_impl.stratos.publisher")


class Publisher:
    def __init__(self, repos: RepoService, events: EventLog, hooks: StratosHooks) -> None:
        self.repos = repos
        self.events = events
        self.hooks = hooks

    def publish(self, did: str, pending_id: int, publication: CommitPublication) -> None:
        """Callers hold the DID's lock, so a user's commits are published in rev order."""
        # Hooks write stubs into the user's PDS under the same collection and key: never for a
        # collection outside zone.stratos.* (an imported PDS export may hold app.bsky.* records,
        # and a stub there would overwrite the user's real record).
        changes = [c for c in publication.changes() if c.collection.startswith(STRATOS_NAMESPACE)]
        if changes:
            try:
                self.hooks.on_records_changed(did, changes)
            except Exception:
                # The commit is stored and answered; a hook's failure is the hook's to retry.
                log.exception("on_records_changed failed for %s rev %s", did, publication.rev)
        try:
            self.events.append_commit(publication)
            self.repos.mark_published(did, pending_id)
        except Exception:
            # Still queued: the user's next write (or the next start) publishes it again.
            log.exception("publishing %s rev %s failed; it stays queued", did, publication.rev)

    def publish_pending(self, did: str) -> int:
        """Publish whatever a crash left queued for ``did``; returns how many commits."""
        pending = self.repos.pending_publications(did)
        for pending_id, publication in pending:
            self.publish(did, pending_id, publication)
        return len(pending)
