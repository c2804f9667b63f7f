"""Shared helpers for benchmarks: one JSON shape for all (see STYLE.md) and the README table.

Each benchmark module ``benchmarks/<name>.py`` defines ``main(argv=None) -> None`` that
collects :class:`Row` objects and calls :func:`write_results`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"


@dataclass
class Row:
    task: str
    dataset: str
    split: str
    model: str
    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    seconds: float | None = None
    anchor: str | None = None
    anchor_value: float | None = None
    note: str = ""


def machine() -> dict[str, object]:
    info: dict[str, object] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def _clean(v: object) -> object:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def write_results(name: str, rows: list[Row], notes: str = "") -> Path:
    """Write ``results/<name>.json`` and refresh this benchmark's table in README.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": name,
        "date": _dt.date.today().isoformat(),
        "machine": machine(),
        "rows": [{k: _clean(v) for k, v in asdict(r).items()} for r in rows],
    }
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(payload, indent=2))
    _update_readme(name, payload, notes)
    return out


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _update_readme(name: str, payload: dict[str, object], notes: str) -> None:
    rows = payload["rows"]
    assert isinstance(rows, list)
    lines = [f"<!-- {name}:start -->", f"### {name}", "",
             f"Run {payload['date']} on {payload['machine']}. Source: `benchmarks/{name}.py`, "
             f"`benchmarks/results/{name}.json`.", ""]
    if notes:
        lines += [notes, ""]
    cols = ["task", "dataset", "split", "model", "metric", "value", "ci_low", "ci_high", "seconds", "anchor",
            "anchor_value", "note"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    lines.append(f"<!-- {name}:end -->")
    block = "\n".join(lines)
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    pat = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pat.sub(block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)
