"""Group commit for the audit records of predictions.

A prediction must not be returned unless its audit record is stored, but one commit per request (plus the audit
chain lock every request waits for) caps throughput. Request threads hand their record to one writer thread and
wait; the writer appends everything that queued up meanwhile in one transaction (one read of the chain head, one
flush, one commit) and then releases the waiting requests. Nothing changes for a reader of the log: same rows, same
hash chain, same append-only triggers; a request whose batch fails to commit gets the database error (503) and
no result. On a clean shutdown :meth:`AuditWriter.close` writes everything queued before it returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from medkit.core.logging import get_logger
from medkit.serve import audit

log = get_logger("medkit.serve")
_STOP = object()


class AuditWriter:
    """One writer thread that appends queued audit events in batches of at most ``max_batch``.

    ``sessions`` returns the session factory to write with (called once per batch).
    """

    def __init__(self, sessions: Callable[[], sessionmaker], *, max_batch: int = 256, wait_s: float = 60.0) -> None:
        self._sessions = sessions  # looked up per batch: the owner may swap its session factory
        self._max_batch = max_batch
        self._wait_s = wait_s
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="medkit-audit", daemon=True)
        self._thread.start()

    def write(self, actor: audit.Actor, action: str, **fields: Any) -> None:
        """Append one event (``fields`` as for :func:`medkit.serve.audit.record`); returns once it is committed.

        Raises the commit's exception (e.g. the database is unavailable), so the caller does not return a result
        whose audit record was not stored.
        """
        event = {"actor": actor, "action": action, **fields}
        with self._close_lock:
            closed = self._closed
            if not closed:
                fut: Future[None] = Future()
                self._q.put((event, fut))
        if closed:  # after shutdown began (e.g. a job finishing late): write it directly
            with self._sessions().begin() as db:
                audit.record_many(db, [event])
            return
        try:
            fut.result(timeout=self._wait_s)
        except TimeoutError:
            raise OperationalError("audit append", None, TimeoutError("audit writer did not answer")) from None

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            batch = []
            while True:
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
                if stop or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self._sessions().begin() as db:
                audit.record_many(db, [event for event, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure (mapped to 503)
            log.error("audit batch of %d not stored: %s", len(batch), type(exc).__name__)
            for _, fut in batch:
                fut.set_exception(exc)
            return
        for _, fut in batch:
            fut.set_result(None)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then stop the writer thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._q.put(_STOP)
        self._thread.join(timeout)
