"""Group commit for the audit records of predictions.

A prediction must not be returned unless its audit record is stored, but one commit per request (with the audit
chain lock every request waits for) caps throughput. Requests that arrive while an audit commit is running wait
for it to end; then one of them appends all of their records in one transaction (one read of the chain head, one
flush, one commit) and wakes the others (see :mod:`medkit.serve.combine`; a request that finds no commit running
writes its own record at once). Nothing changes for a reader of the log: same rows, same hash chain, same
append-only triggers. A request whose batch fails to commit gets the database error (503) and no result. There is
no queue and no background thread, so no record can be left unwritten at shutdown: every pending record belongs to
a request that is waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import sessionmaker

from medkit.core.logging import get_logger
from medkit.serve import audit
from medkit.serve.combine import Combiner

log = get_logger("medkit.serve")


class AuditWriter:
    """Appends audit events, several waiting ones per transaction.

    ``sessions`` returns the session factory to write with (called once per batch, so the owner may swap it).
    """

    def __init__(self, sessions: Callable[[], sessionmaker], *, max_batch: int = 256) -> None:
        self._sessions = sessions
        self._combiner: Combiner[dict[str, Any], None] = Combiner(self._commit, max_items=max_batch)

    def write(self, actor: audit.Actor, action: str, **fields: Any) -> None:
        """Append one event (``fields`` as for :func:`medkit.serve.audit.record`); returns once it is committed.

        Raises the commit's exception (e.g. the database is unavailable), so the caller does not return a result
        whose audit record was not stored.
        """
        self._combiner.submit({"actor": actor, "action": action, **fields})

    def _commit(self, events: list[dict[str, Any]]) -> list[None]:
        try:
            with self._sessions().begin() as db:
                audit.record_many(db, events)
        except Exception as exc:
            log.error("audit batch of %d not stored: %s", len(events), type(exc).__name__)
            raise
        return [None] * len(events)

    def close(self) -> None:
        """Nothing to flush: every record is written by (or together with) the request that waits for it."""
