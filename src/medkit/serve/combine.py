"""Leader/follower combining: run work for several waiting threads in one call, in one of those threads.

Used for the audit log's group commit and for micro-batching predictions. A thread that arrives while nothing is
running does its own work at once, in its own thread (no hand-off, no added latency). Threads that arrive while a
batch is running queue up; when the batch ends, the first of them becomes the next leader and runs everything that
queued meanwhile as one batch, then wakes the others with their results. Nobody waits on purpose and no background
thread is needed, so nothing can be left behind in a queue at shutdown: every item is run by a thread that is
waiting for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("item", "result", "error", "done", "lead", "event")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self.event = threading.Event()


class Combiner(Generic[T, R]):
    """Calls ``run(items) -> results`` (one result or exception per item, same order) for batches of waiting items.

    ``max_items`` caps a batch; ``size`` (default 1 per item) lets a batch be capped by e.g. rows instead.
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R | BaseException]], *, max_items: int = 256,
                 size: Callable[[T], int] | None = None) -> None:
        self._run = run
        self._max = max_items
        self._size = size or (lambda _item: 1)
        self._lock = threading.Lock()
        self._pending: list[_Slot[T, R]] = []
        self._busy = False

    def submit(self, item: T) -> R:
        """Run ``item`` (alone or with others) and return its result, or raise its exception."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            leader = not self._busy
            self._busy = True
        if not leader:
            slot.event.wait()
            if slot.lead:  # the previous leader handed over: our item is still pending
                self._lead()
        else:
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _take(self) -> list[_Slot[T, R]]:
        batch: list[_Slot[T, R]] = []
        n = 0
        while self._pending:
            k = self._size(self._pending[0].item)
            if batch and n + k > self._max:
                break
            batch.append(self._pending.pop(0))
            n += k
        return batch

    def _lead(self) -> None:
        with self._lock:
            batch = self._take()
        try:
            results: Sequence[R | BaseException] = self._run([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"combined call returned {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting thread, which re-raises it
            results = [exc] * len(batch)
        for s, r in zip(batch, results, strict=True):
            if isinstance(r, BaseException):
                s.error = r
            else:
                s.result = r
            s.done = True
        with self._lock:
            nxt = self._pending[0] if self._pending else None
            if nxt is None:
                self._busy = False
            else:
                nxt.lead = True  # still busy: the next waiting thread takes over
        for s in batch:
            s.event.set()
        if nxt is not None:
            nxt.event.set()
