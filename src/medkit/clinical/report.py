"""HTML run report of a clinical train/evaluate run (metrics, plots, cleaning counts, provenance)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medkit.clinical.evaluate import binary_plots, evaluate_binary, evaluate_survival, km_by_risk_group, metrics_table
from medkit.clinical.inputs import ClinicalData
from medkit.core.runs import RunDir
from medkit.reporting import Report


def cleaning_section(rep: Report, data: list[ClinicalData]) -> dict[str, Any]:
    from medkit.clinical.cleaning import cleaning_table

    out: dict[str, Any] = {}
    for d in data:
        if d.cleaning is None:
            continue
        s = rep.section(f"Cleaning rules applied ({d.name})")
        c = d.cleaning
        s.text(f"{c.n_changed} of {c.n_values} values were changed by a named rule (converted or removed); "
               "nothing else was altered. Descriptor values of -1 are the format's missing code.")
        s.table(cleaning_table(c), caption="Matches per rule and parameter")
        s.table([{"rule": k, "why": v} for k, v in c.rules.items() if k != "outside_physical_range_removed"]
                + [{"rule": "outside_physical_range_removed", "why": c.rules.get("outside_physical_range_removed", "")}],
                caption="Rules in force")
        out[d.name] = c.as_dict()
    return out


def write_run_report(run: RunDir, model_name: str, d_tr: ClinicalData, d_te: ClinicalData, model: Any,
                     risk: np.ndarray, *, n_boot: int, seed: int, title: str, split: str,
                     quality: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate ``risk`` on ``d_te``, write plots + ``report.html`` into ``run``; return the metrics dict."""
    plots = run.sub("plots")
    rep = Report(title, subtitle=split, meta={"run": run.path.name, "seed": str(seed)})
    metrics: dict[str, Any] = {"split": split, "model": model_name, "n_train": len(d_tr.ids), "n_test": len(d_te.ids)}
    if d_te.task in {"icu", "binary"}:
        assert d_te.y is not None
        ev = evaluate_binary(d_te.y, risk, n_boot=n_boot, seed=seed)
        metrics["test"] = ev.as_dict()
        figs = binary_plots({model_name: (d_te.y, risk)}, {model_name: ev}, plots, "test")
        s = rep.section("Headline")
        s.text(f"{model_name} on {len(d_te.ids)} patients ({int(d_te.y.sum())} with the outcome): "
               f"AUROC {ev.metrics['auroc']}, AUPRC {ev.metrics['auprc']}, calibration slope "
               f"{ev.calibration.slope:.2f} (ideal 1), intercept {ev.calibration.intercept:.2f} (ideal 0), "
               f"Brier {ev.calibration.brier:.3f}.")
        s.table(metrics_table({model_name: ev}))
        s.metrics({k: v for k, v in ev.metrics.items() if k != "log_loss"})
        rep.section("Discrimination").figure(figs["roc"], "ROC curve")
        rep.section("Calibration").figure(figs["calibration"], "Reliability diagram and distribution of risks")
        rep.section("Clinical usefulness").figure(
            figs["decision"], "Net benefit of acting on the model at each threshold vs treat-all / treat-none")
        pd.DataFrame({"id": d_te.ids, "y": d_te.y, "risk": risk}).to_csv(run.path / "test_predictions.csv",
                                                                          index=False)
    else:
        from medkit.clinical.survival_metrics import eval_times
        from medkit.evaluation.plots import save

        assert d_te.time is not None and d_te.event is not None and d_tr.time is not None and d_tr.event is not None
        times = eval_times(d_tr.time, d_te.time)
        surv = model.predict_survival(d_te.X, times) if hasattr(model, "predict_survival") else None
        ev_s = evaluate_survival(d_tr.time, d_tr.event, d_te.time, d_te.event, risk, surv, times, n_boot=n_boot,
                                 seed=seed)
        metrics["test"] = ev_s.as_dict()
        km = save(km_by_risk_group(d_te.time, d_te.event, risk, f"Kaplan–Meier by predicted risk ({d_te.name})"),
                  plots / "km-risk-groups.png")
        s = rep.section("Headline")
        s.text(f"{model_name} on {len(d_te.ids)} patients ({int(d_te.event.sum())} events): Harrell's C "
               f"{ev_s.harrell_c}, Uno's C {ev_s.uno_c:.3f}, mean time-dependent AUC {ev_s.mean_td_auc:.3f}, "
               f"integrated Brier score {ev_s.ibs:.3f} over t = {times[0]:.0f}–{times[-1]:.0f}.")
        s.figure(km, "Observed survival of the low / medium / high tertiles of predicted risk")
        from medkit.evaluation.plots import _plt

        plt = _plt()
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(times, ev_s.td_auc, marker="o")
        ax.set(xlabel="time", ylabel="cumulative/dynamic AUC", ylim=(0.4, 1.0), title="Time-dependent AUC")
        rep.section("Discrimination over time").figure(save(fig, plots / "td-auc.png"), "AUC(t)")
    if quality is not None:
        s = rep.section("Data quality and model card")
        s.text(f"Data quality (checked before training): {quality['n_errors']} errors, {quality['n_warnings']} "
               f"warnings, {quality['n_info']} notes.")
        for w in quality.get("warnings", [])[:5]:
            s.text(f"Warning: {w}")
        s.link("quality.html", "Data-quality report")
        s.link("model_card.html", "Model card and TRIPOD+AI checklist")
    metrics["cleaning"] = cleaning_section(rep, [d_tr, d_te] if d_tr.cleaning is not d_te.cleaning else [d_te])
    s = rep.section("Provenance")
    s.table([{k: v for k, v in p.items() if k not in {"files", "sha256"}} for p in d_te.provenance],
            caption="Data sets read (checksums in datasets.json)")
    rep.write(run.path / "report.html")
    return metrics
