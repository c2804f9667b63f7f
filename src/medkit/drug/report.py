"""HTML report of a screening run: funnel counts, top candidates drawn, property distributions vs training set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.drug.funnel import FunnelResult
from medkit.drug.metrics import GenerationMetrics

__all__ = ["property_frame", "write_screen_report"]

_PROPS = [("mw", "Molecular weight (Da)"), ("logp", "Crippen logP"), ("qed", "QED"), ("sa", "SA score (1 easy–10 hard)"),
          ("tpsa", "TPSA (Å²)")]


def property_frame(smiles: list[str]) -> pd.DataFrame:
    """Drug-likeness properties (columns of :class:`~medkit.drug.druglike.DrugLikeness`) of valid SMILES."""
    from medkit.drug.chem import mol_from_smiles
    from medkit.drug.druglike import assess

    rows = [assess(m).as_dict() for m in (mol_from_smiles(s) for s in smiles) if m is not None]
    return pd.DataFrame(rows)


def _funnel_plot(result: FunnelResult) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = ["input"] + [s.name for s in result.stages]
    counts = [result.stages[0].n_in] + [s.n_out for s in result.stages]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.barh(names[::-1], counts[::-1], color="#4C72B0")
    for i, c in enumerate(counts[::-1]):
        ax.text(c, i, f" {c}", va="center", fontsize=9)
    ax.set(xlabel="molecules", title="Screening funnel")
    return fig


def _dist_plot(gen: pd.DataFrame, train: pd.DataFrame) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(_PROPS), figsize=(3.0 * len(_PROPS), 2.6))
    for ax, (col, label) in zip(axes, _PROPS, strict=True):
        lo = np.nanmin([gen[col].min(), train[col].min()])
        hi = np.nanmax([gen[col].max(), train[col].max()])
        bins = np.linspace(lo, hi, 30)
        ax.hist(train[col], bins=bins, density=True, alpha=0.5, label="training set")
        ax.hist(gen[col], bins=bins, density=True, alpha=0.5, label="generated (valid, unique)")
        ax.set(xlabel=label, yticks=[])
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_screen_report(path: str | Path, result: FunnelResult, *, title: str, subtitle: str = "",
                        train_props: pd.DataFrame | None = None, gen_metrics: GenerationMetrics | None = None,
                        predictor_notes: list[dict[str, Any]] | None = None, extra_text: str = "",
                        meta: dict[str, str] | None = None) -> Path:
    """Write the self-contained HTML report and return its path."""
    from medkit.drug.draw import molecule_svg
    from medkit.reporting import Report
    from medkit.reporting.html import escape

    rep = Report(title, subtitle=subtitle, meta=meta or {})
    s = rep.section("Funnel")
    last = result.stages[-1]
    s.text(f"{result.stages[0].n_in} candidates in, {last.n_out} ranked out. Every removal is counted with its "
           "reason; a molecule failing several drug-likeness alerts is counted under the first.")
    s.figure(_funnel_plot(result), "Molecules remaining after each stage")
    s.table(result.counts(), caption="Counts per stage (in = out + removed)")
    if extra_text:
        s.text(extra_text)
    if gen_metrics is not None:
        g = rep.section("Generation quality (MOSES metrics)")
        g.table(gen_metrics.table(), caption=f"MOSES metrics of {gen_metrics.n} generated strings "
                                             "(definitions of Polykovskiy et al. 2020)")
    top = result.ranked.head(12)
    if len(top):
        t = rep.section("Top candidates")
        pred_cols = [c for c in top.columns if c.startswith("pred_")]
        cards = []
        for _, r in top.iterrows():
            lines = [f"#{int(r['rank'])} score {r['score']:.2f}", f"QED {r['qed']:.2f} · SA {r['sa']:.1f}"]
            for c in pred_cols:
                name = c[5:]
                lines.append(f"{escape(name)} {r[c]:.2f} ± {r['sd_' + name]:.2f}" if not np.isnan(r["sd_" + name])
                             else f"{escape(name)} {r[c]:.2f}")
            cards.append("<div style='display:inline-block;margin:4px;border:1px solid #ddd;padding:4px;"
                         "vertical-align:top;font-size:12px'>" + molecule_svg(r["smiles"]) + "<br>" +
                         "<br>".join(lines) + f"<br><code>{escape(r['smiles'])}</code></div>")
        t.html("".join(cards))
        cols = ["rank", "smiles", "score", "qed", "sa", "mw", "logp"] + [c for c in top.columns
                                                                         if c.startswith(("pred_", "sd_"))]
        t.table(result.ranked.head(50)[cols], caption="Ranked table (top 50); ± is one ensemble/tree standard "
                                                       "deviation. Score = z-scored lower confidence bound.")
    if train_props is not None and len(train_props):
        d = rep.section("Property distributions vs training set")
        uniq = result.table
        d.figure(_dist_plot(uniq, train_props), "Valid unique candidates against the generator's training set")
    if predictor_notes:
        p = rep.section("Property predictors")
        p.table(predictor_notes, caption="Held-out performance of the predictors used for ranking")
    if result.invalid:
        iv = rep.section("Invalid inputs")
        iv.table(result.invalid[:100], caption=f"{len(result.invalid)} invalid SMILES (index + reason); first 100")
    return rep.write(path)
