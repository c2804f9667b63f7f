"""``medkit demo``: every workflow on embedded real data, then an index page linking the reports."""

from __future__ import annotations

import importlib
import time
import traceback
from pathlib import Path

import typer

from medkit.core.demo import DemoResult
from medkit.core.errors import MedkitError
from medkit.reporting import write_index

# (key, module with run_demo, title if it cannot run). Order = order on the index page.
WORKFLOWS = [
    ("foundation", "medkit.workflows.tabular", "Foundation: WDBC tabular example"),
    ("clinical", "medkit.clinical.demo", "Clinical: diagnosis, ICU risk and survival"),
    ("drug", "medkit.drug.demo", "Drug: generation, property prediction and screening"),
    ("imaging", "medkit.imaging.demo", "Imaging: brain MRI classification and vessel segmentation"),
    ("treatment", "medkit.treatment.demo", "Treatment: collaborative filtering and treatment effects"),
]


def run_all(out: Path, *, seed: int = 0, data_dir: Path | None = None, only: list[str] | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for key, module, title in WORKFLOWS:
        if only and key not in only:
            continue
        typer.echo(f"[{key}] running ...")
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(module)
            fn = getattr(mod, "run_demo", None)
            if fn is None:
                raise NotImplementedError(f"{module} has no run_demo yet")
            res: DemoResult = fn(out / key, seed=seed, data_dir=data_dir)
        except (MedkitError, NotImplementedError, ImportError) as exc:
            typer.echo(f"[{key}] skipped: {exc}")
            res = DemoResult(title=title, report=None, summary="", skipped=str(exc))
        except Exception as exc:  # noqa: BLE001 - one failing workflow must not hide the others
            typer.echo(f"[{key}] FAILED: {exc}\n{traceback.format_exc()}", err=True)
            res = DemoResult(title=title, report=None, summary="", skipped=f"failed: {exc}")
        dt = time.perf_counter() - t0
        typer.echo(f"[{key}] {res.summary or res.skipped} ({dt:.0f} s)")
        href = str(res.report.resolve().relative_to(out.resolve())) if res.report else "#"
        entries.append({"href": href, "title": res.title,
                        "summary": (res.summary or f"Not run: {res.skipped}") + f" ({dt:.0f} s)"})
    return write_index(out / "index.html", "medkit demo: all workflows on real data", entries,
                       intro="Each workflow runs collect → clean → train → evaluate → apply on embedded real data. "
                             "Open a report for figures, confidence intervals and provenance.")
