"""Opportunistic micro-batching of row-wise predictions.

A one-patient request spends most of its model time in fixed per-call costs (building a DataFrame, scikit-learn's
input validation), not in arithmetic: one call on 8 rows costs about the same as one call on 1. Under load the
requests that queue up while the model is busy are therefore sent to it as one batch and the answers split back.
Nothing waits on purpose: a request that arrives while the model is idle runs alone at once, so batching only kicks
in when requests would otherwise queue, which is exactly when it cuts tail latency.

Only models whose rows are independent are batched: clinical bundles that declare ``inputs.format`` ``"one row per
patient"`` and answer with a ``predictions`` list of one entry per row, in input order. Anything else (ICU bundles,
whose rows are measurements grouped by record; a batch whose output does not have one prediction per row) runs one
request at a time. If a batch fails, each request is re-run alone so an error is reported to the request that caused
it, with that request's own message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from medkit.serve.combine import Combiner

ROW_WISE = "one row per patient"
MAX_ROWS = 256  # a batch never grows past this many rows (a big request still runs alone)


def batchable(pillar: str, ref: dict[str, Any]) -> bool:
    """Whether a registered version's predictions are row-wise and may be batched across requests."""
    return pillar == "clinical" and ref.get("inputs", {}).get("format") == ROW_WISE


def split_output(out: dict[str, Any], sizes: list[int], had_ids: list[bool]) -> list[dict[str, Any]] | None:
    """Split one batch output into per-request outputs, or None if it is not one prediction per row."""
    preds = out.get("predictions")
    if not isinstance(preds, list) or len(preds) != sum(sizes):
        return None
    parts, start = [], 0
    for n, has_id in zip(sizes, had_ids, strict=True):
        mine = [dict(p) for p in preds[start:start + n]]
        if not has_id and all("id" in p for p in mine):  # alone, rows without "id" are numbered 0..n-1
            for i, p in enumerate(mine):
                p["id"] = str(i)
        parts.append({**{k: v for k, v in out.items() if k != "predictions"}, "predictions": mine})
        start += n
    return parts


class _Lane:
    """Requests for one (model version, explain) pair, combined into batches (see :mod:`medkit.serve.combine`)."""

    def __init__(self, run: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        self.run = run
        self.combiner: Combiner[list[dict[str, Any]], dict[str, Any]] = Combiner(
            self._run_batch, max_items=MAX_ROWS, size=len)

    def _alone(self, rows: list[dict[str, Any]]) -> dict[str, Any] | BaseException:
        try:
            return self.run(rows)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request, which re-raises it
            return exc

    def _run_batch(self, batch: list[list[dict[str, Any]]]) -> list[dict[str, Any] | BaseException]:
        if len(batch) == 1:
            return [self._alone(batch[0])]
        try:
            out = self.run([row for rows in batch for row in rows])
            parts = split_output(out, [len(rows) for rows in batch], [any("id" in r for r in rows) for rows in batch])
        except Exception:  # noqa: BLE001 - some request in the batch is bad: find out which, one by one
            parts = None
        if parts is None:
            return [self._alone(rows) for rows in batch]
        return list(parts)


class Batcher:
    """One :class:`_Lane` per (bundle directory, explain flag), created on first use."""

    def __init__(self) -> None:
        self._lanes: dict[tuple[str, bool], _Lane] = {}
        self._lock = threading.Lock()

    def predict(self, key: str, predictor: Any, rows: list[dict[str, Any]], explain: bool) -> dict[str, Any]:
        """``predictor.predict(rows, explain=explain)``, possibly run together with other waiting requests."""
        with self._lock:
            lane = self._lanes.get((key, explain))
            if lane is None:
                lane = self._lanes[(key, explain)] = _Lane(lambda r: predictor.predict(r, explain=explain))
        return lane.combiner.submit(rows)

    def close(self) -> None:
        with self._lock:
            self._lanes = {}
