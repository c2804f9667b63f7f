"""Model cards (``model_card.md`` + ``model_card.html``) and the TRIPOD+AI checklist for a run directory.

The card is filled from what the run directory holds — ``run.json``, ``config.json``, ``datasets.json``,
``metrics.json``, and when present ``trust.json`` (quality, subgroups, recalibration, thresholds, conformal,
explanations: written by :func:`add_trust_to_run`), ``privacy.json`` and
``model_card_info.json`` (the author's answers: intended use, users, setting, ethics, ...). What the run
cannot know is marked "needs author input" rather than invented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medkit.core.errors import DataError
from medkit.core.runs import RunDir, atomic_write_text, dumps
from medkit.reporting.tripod import ChecklistItem, checklist_json, checklist_markdown, fill_checklist

NEEDS = "_needs author input_"
_PRIVACY_KEYS = ("epsilon", "delta", "noise_multiplier", "max_grad_norm", "k_anonymity", "k", "l_diversity",
                 "dp", "target_epsilon", "secure_aggregation", "deid")


@dataclass
class ModelCardInfo:
    """Author-supplied facts (``model_card_info.json`` in the run directory, or passed in).

    ``tripod`` maps TRIPOD+AI item ids to answers (e.g. ``{"17": "approved by ... (ref ...)"}``).
    """

    intended_use: str = ""
    intended_users: str = ""
    out_of_scope: str = ""
    setting: str = ""
    limitations: list[str] = field(default_factory=list)
    tripod: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ModelCardInfo:
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"model_card_info.json is invalid: {exc}", where=str(path),
                            fix=f"use keys {list(cls.__dataclass_fields__)}") from None


@dataclass(frozen=True)
class ModelCardPaths:
    markdown: Path
    html: Path
    tripod_markdown: Path
    tripod_json: Path


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _find_privacy(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Privacy-relevant settings anywhere in a nested config (``privacy.epsilon``, ``dp.noise_multiplier``...)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                out.update(_find_privacy(v, key + "."))
            elif str(k).lower() in _PRIVACY_KEYS or "privacy" in prefix.lower():
                out[key] = v
    return out


def collect_facts(run_dir: str | Path) -> dict[str, Any]:
    """Everything the card and checklist use, read from the run directory."""
    run = RunDir.open(run_dir)
    p = run.path
    facts: dict[str, Any] = {"run_dir": str(p), "name": run.name, "run": _read(p / "run.json") or {},
                             "config": _read(p / "config.json") or {}, "datasets": _read(p / "datasets.json") or [],
                             "metrics": _read(p / "metrics.json") or {}, "trust": _read(p / "trust.json") or {},
                             "privacy": _read(p / "privacy.json") or {}}
    facts["privacy"] = {**_find_privacy(facts["config"].get("config", {})), **facts["privacy"]}
    model_files = sorted(x.name for x in p.iterdir() if x.stem == "model" or x.suffix in {".joblib", ".onnx", ".pt"})
    facts["model_file"] = model_files[0] if model_files else None
    tr = facts["trust"]
    pop = tr.get("population", {})
    facts.update(n=pop.get("n"), events=pop.get("events"), n_features=pop.get("n_features"),
                 missing=tr.get("missing_data"), outcome=tr.get("outcome"), clusters=tr.get("clusters"))
    if facts["n"] is None and facts["datasets"]:
        facts["n"] = facts["datasets"][0].get("n_rows")
    if facts["outcome"] is None and facts["datasets"]:
        try:
            from medkit.data import dataset_info

            facts["outcome"] = dataset_info(str(facts["datasets"][0]["name"])).description
        except Exception:  # noqa: BLE001 - a CSV run has no registry entry; leave the item to the author
            facts["outcome"] = None
    return facts


def _metrics_rows(metrics: dict[str, Any]) -> list[dict[str, str]]:
    pooled = metrics.get("pooled_out_of_fold") or metrics.get("test") or {}
    rows = []
    def fmt(v: dict[str, Any]) -> str:
        lo, hi = v.get("ci_low"), v.get("ci_high")
        ci = f" ({lo:.3f}–{hi:.3f})" if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""
        return f"{v['value']:.3f}{ci}"

    for k, v in pooled.items():
        if isinstance(v, dict) and "value" in v:
            rows.append({"metric": k, "value (95% CI)": fmt(v)})
        elif isinstance(v, dict):  # per-task metrics, e.g. {"esol": {"rmse": {...}}}
            for m, mv in v.items():
                if isinstance(mv, dict) and "value" in mv:
                    rows.append({"metric": f"{k} {m}", "value (95% CI)": fmt(mv)})
    return rows


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")).replace("|", "/") for c in cols) + " |")
    return "\n".join(out) + "\n"


def _sections(facts: dict[str, Any], info: ModelCardInfo, items: list[ChecklistItem]) -> list[tuple[str, str, list]]:
    """(title, text, tables) per card section; shared by the markdown and HTML renderers."""
    cfg = facts["config"].get("config", {})
    tr = facts["trust"]
    met = facts["metrics"]
    versions = facts["run"].get("versions", {})
    model = cfg.get("model", {})
    if not isinstance(model, dict):  # pillars may record the model as a plain name
        model = {"kind": model}
    sec: list[tuple[str, str, list]] = []
    sec.append(("Model details", f"Run `{Path(facts['run_dir']).name}` ({facts['run'].get('created', '')}); model "
                f"{model.get('kind', type(model).__name__)} {json.dumps(model)}; seed {facts['config'].get('seed')}; "
                f"medkit {versions.get('medkit', '?')}, scikit-learn {versions.get('scikit-learn', '?')}. "
                f"Artefact: {facts['model_file'] or NEEDS}.", []))
    sec.append(("Intended use", f"**Use:** {info.intended_use or NEEDS}  \n**Users:** {info.intended_users or NEEDS}"
                f"  \n**Out of scope:** {info.out_of_scope or NEEDS}  \n**Setting:** {info.setting or NEEDS}  \n"
                "Research software: not a medical device; not for clinical decisions without local validation.", []))
    ds_rows = [{"dataset": d.get("name"), "source": d.get("source"), "licence": d.get("licence"),
                "rows": d.get("n_rows"), "patients": d.get("n_patients"),
                "sha256": ", ".join(f"{k}: {str(v)[:12]}…" for k, v in (d.get("sha256") or {}).items())}
               for d in facts["datasets"]]
    cites = "; ".join(str(d.get("citation")) for d in facts["datasets"] if d.get("citation"))
    sec.append(("Data provenance and licences", f"Citations: {cites or NEEDS}", [ds_rows]))
    pop = tr.get("population", {})
    unit = pop.get("unit", "patients")
    pop_text = (f"{pop.get('n')} {unit}, {pop.get('events')} with the outcome ({pop.get('prevalence', 0):.1%}); "
                f"{pop.get('n_features')} predictors. Outcome: {facts.get('outcome') or NEEDS}"
                if pop else f"{facts.get('n') or NEEDS} rows. Demographics: {NEEDS}")
    sec.append(("Population", pop_text, [tr.get("attribute_summary", [])]))
    sec.append(("Performance", f"Validation: {met.get('cv', NEEDS)}. Point estimates with bootstrap 95% CIs.",
                [_metrics_rows(met)]))
    cal = met.get("calibration", {})
    cal_text = (f"Out-of-fold calibration slope {cal.get('slope', float('nan')):.2f}, intercept "
                f"{cal.get('intercept', float('nan')):.2f}, ECE {cal.get('ece', float('nan')):.3f}, Brier "
                f"{cal.get('brier', float('nan')):.4f}." if cal else NEEDS)
    recal = tr.get("recalibration_table", [])
    if recal:
        cal_text += " Cross-fitted recalibration (calibrator fitted on the other folds) before → after:"
    sec.append(("Calibration", cal_text, [recal]))
    thr = tr.get("thresholds", [])
    conf = tr.get("conformal")
    dec_text = ("Decision thresholds chosen on out-of-fold predictions (optimistic: confirm on new data)."
                if thr else "No threshold analysis.")
    if conf:
        dec_text += (f" Conformal prediction sets at {conf['target']:.0%} target coverage: empirical coverage "
                     f"{conf['coverage']:.3f} (95% CI {conf['ci_low']:.3f}–{conf['ci_high']:.3f}) on "
                     f"{conf['n']} held-out patients, mean set size {conf['mean_size']:.2f}.")
    thr_rows = [{"criterion": t["criterion"], "threshold": f"{t['threshold']:.3f}",
                 "sensitivity": f"{t['sensitivity']:.3f} ({t['sensitivity_ci'][0]:.3f}–{t['sensitivity_ci'][1]:.3f})",
                 "specificity": f"{t['specificity']:.3f} ({t['specificity_ci'][0]:.3f}–{t['specificity_ci'][1]:.3f})",
                 "PPV": f"{t['ppv']:.3f}", "net benefit": f"{t['net_benefit']:.3f}"} for t in thr]
    sec.append(("Decision support", dec_text, [thr_rows]))
    sub = tr.get("subgroup_table", [])
    sub_text = ("⚑ marks a gap to the overall value of at least "
                f"{tr.get('subgroup_gap_flag', 0.05)} with the overall value outside the subgroup CI."
                if sub else f"No subgroup attributes were available: subgroup performance {NEEDS}.")
    sec.append(("Subgroups", sub_text, [sub]))
    imp = tr.get("explanation", {})
    if not imp:
        imp_text = "No explanation computed."
    elif "shap" in str(imp.get("method", "")).lower():
        imp_text = (f"{imp.get('method', '')} on {imp.get('n', '?')} {unit}; mean |SHAP| "
                    f"({imp.get('output', '')} scale).")
    else:  # e.g. Grad-CAM for imaging models, atom attributions for molecules
        imp_text = f"{imp.get('method', '')}: {imp.get('summary', '')}."
    sec.append(("What drives predictions", imp_text, [imp.get("importance", [])[:10]]))
    q = tr.get("quality")
    sec.append(("Data quality", (f"{q['n_errors']} errors, {q['n_warnings']} warnings. " +
                                 " ".join(q.get("warnings", [])[:5])) if q else NEEDS, []))
    priv = facts["privacy"]
    sec.append(("Privacy", "; ".join(f"{k} = {v}" for k, v in priv.items()) if priv else
                "No differential privacy or anonymisation settings in this run (trained on the data as given).", []))
    lim = list(tr.get("limitations", [])) + list(info.limitations)
    sec.append(("Limitations", "\n".join(f"- {x}" for x in lim) if lim else NEEDS, []))
    counts = {s: sum(i.status == s for i in items) for s in ("done", "not applicable", "needs author input")}
    sec.append(("TRIPOD+AI checklist", f"{counts['done']} done, {counts['not applicable']} not applicable, "
                f"{counts['needs author input']} need author input (see tripod_ai.md).",
                [[{"item": i.id, "status": i.status, "evidence": i.evidence[:160]} for i in items]]))
    return sec


def write_model_card(run_dir: str | Path, info: ModelCardInfo | None = None) -> ModelCardPaths:
    """Write ``model_card.md``, ``model_card.html``, ``tripod_ai.md`` and ``tripod_ai.json`` into ``run_dir``.

    Parameters
    ----------
    run_dir
        A medkit run directory (has ``run.json``).
    info
        Author facts; default: ``model_card_info.json`` in the run directory if present.
    """
    from medkit.reporting.html import Report

    p = Path(run_dir)
    facts = collect_facts(p)
    info = info or ModelCardInfo.load(p / "model_card_info.json")
    items = fill_checklist(facts, info.tripod)
    sections = _sections(facts, info, items)
    md = [f"# Model card: {facts['name']}\n"]
    rep = Report(f"Model card: {facts['name']}", subtitle="Generated from the run directory; "
                 "items marked 'needs author input' must be completed by the study team.",
                 meta={"run": p.name})
    for title, text, tables in sections:
        md.append(f"## {title}\n\n{text}\n")
        s = rep.section(title)
        for para in text.split("\n"):
            if para.strip():
                s.text(para.replace("**", "").replace("_needs author input_", "needs author input").lstrip("- "))
        for t in tables:
            if t:
                md.append(_md_table(t))
                s.table(t)
        if title == "What drives predictions" and (p / "plots" / "shap_importance.png").is_file():
            s.figure(p / "plots" / "shap_importance.png", "Mean |SHAP| per feature; dots are patients")
        if title == "Subgroups" and (p / "plots" / "subgroups.png").is_file():
            s.figure(p / "plots" / "subgroups.png", "AUROC by subgroup with 95% CI; red = flagged gap")
        if title == "Calibration" and (p / "plots" / "recalibration.png").is_file():
            s.figure(p / "plots" / "recalibration.png", "Reliability before and after recalibration")
    paths = ModelCardPaths(p / "model_card.md", p / "model_card.html", p / "tripod_ai.md", p / "tripod_ai.json")
    atomic_write_text(paths.markdown, "\n".join(md))
    rep.write(paths.html)
    atomic_write_text(paths.tripod_markdown, f"# TRIPOD+AI checklist: {facts['name']}\n\n" + checklist_markdown(items))
    atomic_write_text(paths.tripod_json, dumps(checklist_json(items)))
    return paths




# -- integration: the trust analyses of a finished tabular run --------------------------------------------------
_ATTRIBUTE_NAMES = {"sex": "sex", "gender": "sex", "age": "age", "race": "race", "ethnicity": "ethnicity",
                    "icutype": "ICU type", "icu_type": "ICU type", "static_icutype": "ICU type", "site": "site",
                    "hospital": "site", "static_gender": "sex", "static_age": "age"}


def auto_attributes(X: Any) -> dict[str, Any]:
    """Subgroup attributes found by column name (sex/gender, age → age band, race, ICU type, site)."""
    from medkit.evaluation.subgroups import age_bands

    out: dict[str, Any] = {}
    for c in getattr(X, "columns", []):
        key = _ATTRIBUTE_NAMES.get(str(c).lower().replace(" ", "_"))
        if key == "age":
            out["age band"] = age_bands(X[c].to_numpy(float))
        elif key and key not in out:
            out[key] = X[c].to_numpy()
    return out


def add_trust_to_run(run: RunDir | str | Path, X: Any, y: Any, *, groups: Any = None, oof: Any = None,
                     folds: Any = None, model: Any = None, attributes: dict[str, Any] | None = None,
                     info: ModelCardInfo | None = None, quality: Any = None, n_explain: int = 200,
                     alpha: float = 0.1, target_sensitivity: float = 0.9, n_boot: int = 500,
                     seed: int = 0) -> ModelCardPaths:
    """Quality report, recalibration, thresholds, conformal sets, subgroups and SHAP for a finished binary run,
    saved as ``trust.json`` + ``quality.html`` + plots, then the model card and TRIPOD+AI checklist.

    Parameters
    ----------
    run
        The run directory (``RunDir`` or path) the workflow wrote.
    X, y, groups
        The training table (n, F), binary labels (n,) and patient ids (n,) the run used.
    oof, folds
        Out-of-fold risks (n,) and fold number per row (n,); without them the calibration, threshold,
        conformal and subgroup parts are skipped.
    model
        The final fitted model (explained with :func:`medkit.interpret.explain` on ``n_explain`` rows).
    attributes
        Subgroup attributes ``{name: per-row values}``; default: found by column name (:func:`auto_attributes`).
    quality
        A :class:`medkit.quality.QualityReport` already computed for the gate (otherwise computed here).
    """
    import numpy as np

    from medkit.evaluation import plots as eplots
    from medkit.evaluation.calibration import calibration
    from medkit.evaluation.conformal import ConformalClassifier, coverage_check
    from medkit.evaluation.recalibration import cross_fit_recalibration, result_rows
    from medkit.evaluation.subgroups import subgroup_plot, subgroup_report, subgroup_table
    from medkit.evaluation.thresholds import threshold_by_net_benefit, threshold_for_sensitivity
    from medkit.quality import check_xy

    rd = run if isinstance(run, RunDir) else RunDir.open(run)
    plots = rd.sub("plots")
    yv = np.asarray(y).astype(int)
    ds = (_read(rd.path / "datasets.json") or [{}])[0]
    qrep = quality if quality is not None else check_xy(X, yv, groups, source=str(ds.get("name", "training data")))
    qrep.write_html(rd.path / "quality.html")
    qrep.write_json(rd.path / "quality.json")
    attrs = attributes if attributes is not None else auto_attributes(X)
    n_missing_vars = sum(1 for r in qrep.tables.get("missingness", []) if r["missing"])  # type: ignore[operator]
    trust: dict[str, Any] = {
        "quality": qrep.summary(),
        "population": {"n": len(yv), "events": int(yv.sum()), "prevalence": float(yv.mean()),
                       "n_features": int(X.shape[1])},
        "missing_data": "no missing values in any predictor" if n_missing_vars == 0 else
        f"{n_missing_vars} predictor(s) have missing values (see quality.html); imputed inside the model pipeline",
        "attribute_summary": [{"attribute": k, "level": str(lv), "n": int(c)} for k, v in attrs.items()
                              for lv, c in zip(*np.unique(np.asarray(v, dtype=str), return_counts=True), strict=True)],
    }
    lim = ["Internal validation only (cross-validation on one dataset): performance in other hospitals, "
           "populations or periods is unknown."]
    if not attrs:
        lim.append("No demographic or site attributes were available, so performance could not be checked "
                   "across sex, age or other subgroups.")
    lim += [f"Data-quality warning: {w}" for w in qrep.summary()["warnings"][:5]]
    if oof is not None and folds is not None:
        p = np.asarray(oof, float)
        f = np.asarray(folds)
        methods: tuple[Literal["platt", "isotonic"], ...] = ("platt", "isotonic")
        fitted = [cross_fit_recalibration(yv, p, f, m) for m in methods]
        recal = [r for r, _ in fitted]
        trust["recalibration"] = [r.as_dict() for r in recal]
        trust["recalibration_table"] = result_rows(recal)
        cal_fig = eplots.calibration_plot({"original": (calibration(yv, p), p),
                                           **{r.method: (r.after, o) for r, o in fitted}},
                                          "Reliability before/after cross-fitted recalibration")
        eplots.save(cal_fig, plots / "recalibration.png")
        trust["thresholds"] = [threshold_for_sensitivity(yv, p, target_sensitivity).as_dict(),
                               threshold_by_net_benefit(yv, p).as_dict()]
        sets = np.zeros((len(p), 2), dtype=bool)
        for k in np.unique(f):  # calibrate on the other folds' out-of-fold risks, predict this fold
            m = f == k
            sets[m] = ConformalClassifier(alpha).fit(p[~m], yv[~m]).predict_sets(p[m])
        trust["conformal"] = coverage_check(yv, sets, alpha).as_dict()
        if attrs:
            rows = subgroup_report(yv, p, attrs, n_boot=n_boot, seed=seed)
            trust["subgroups"] = [r.as_dict() for r in rows]
            trust["subgroup_table"] = subgroup_table(rows)
            trust["subgroup_gap_flag"] = 0.05
            if any(r.metric == "auroc" and np.isfinite(r.value) for r in rows):
                eplots.save(subgroup_plot(rows, "auroc"), plots / "subgroups.png")
            flagged = [r for r in rows if r.flagged]
            lim += [f"{r.metric} in {r.attribute} = {r.level} differs from overall by {r.gap:+.3f}" for r in flagged]
    if model is not None:
        from medkit.interpret import explain
        from medkit.interpret.plots import importance_plot

        Xs = X.sample(min(n_explain, len(X)), random_state=seed) if hasattr(X, "sample") else X[:n_explain]
        exp = explain(model, Xs, background=X)
        imp = exp.global_importance()
        trust["explanation"] = {"method": exp.method, "output": exp.output, "n": exp.n,
                                "completeness_gap": exp.completeness_gap(),
                                "importance": [{"feature": r.feature, "mean |SHAP|": round(float(r.mean_abs), 4)}
                                               for r in imp.itertuples()]}
        eplots.save(importance_plot(exp), plots / "shap_importance.png")
    trust["limitations"] = lim
    rd.write_json("trust.json", trust)
    return write_model_card(rd.path, info)


def add_quality_and_card_sections(rep: Any, quality: Any, card: ModelCardPaths, *, detail: str = "") -> None:
    """Append the "Data quality" and "Model card and TRIPOD+AI checklist" sections to a run report.

    Parameters
    ----------
    rep
        The run's :class:`~medkit.reporting.html.Report`.
    quality
        The run's :class:`~medkit.quality.QualityReport` (its ``quality.html`` sits beside ``report.html``).
    card
        What :func:`write_model_card` returned for the same run directory.
    detail
        Text that follows the finding counts in the first sentence (what was checked, what the gate does).
    """
    q = quality.summary()
    s = rep.section("Data quality")
    s.text(f"{q['n_errors']} errors, {q['n_warnings']} warnings, {q['n_info']} notes{detail}.")
    for f in quality.sorted_findings():
        s.text(f"[{f.severity}] {f.message} ({f.where})")
    s.link("quality.html", "Full data-quality report")
    s = rep.section("Model card and TRIPOD+AI checklist")
    s.link(card.html.name, "Model card")
    s.link(card.tripod_markdown.name, "TRIPOD+AI checklist")
