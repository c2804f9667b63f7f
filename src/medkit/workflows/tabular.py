"""Config-driven tabular binary classification: load → validate → CV split → train → evaluate → report.

This is the foundation's end-to-end example (``medkit demo`` runs it on WDBC and
``medkit run CONFIG.toml`` runs any registered binary dataset or a CSV file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.demo import DemoResult
from medkit.core.errors import ConfigError
from medkit.core.logging import get_logger
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything
from medkit.data import load_dataset
from medkit.data.splits import kfold
from medkit.data.tabular import read_csv, validate_table
from medkit.evaluation import binary_report, calibration
from medkit.evaluation.metrics import confusion
from medkit.evaluation.plots import calibration_plot, confusion_plot, metric_bars, roc_plot
from medkit.reporting import Report

log = get_logger("medkit.workflows.tabular")


class DataConfig(StrictModel):
    dataset: str | None = "wdbc"
    csv: Path | None = None
    label: str | None = None
    id_column: str | None = None
    data_dir: Path | None = None


class ModelConfig(StrictModel):
    kind: Literal["logistic", "gbm", "rf"] = "logistic"
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=10)


class EvalConfig(StrictModel):
    n_splits: int = Field(5, ge=2)
    n_boot: int = Field(1000, ge=0)
    threshold: float = Field(0.5, gt=0, lt=1)


class TabularRunConfig(StrictModel):
    """``medkit run`` config. Example TOML::

        name = "wdbc-logistic"
        seed = 0
        [data]
        dataset = "wdbc"
        [model]
        kind = "logistic"
        [evaluation]
        n_splits = 5
    """

    name: str = "tabular"
    seed: int = Field(0, ge=0)
    allow_quality_warnings: bool = False
    runs_dir: Path = Path("runs")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvalConfig = EvalConfig()


def _make_model(cfg: ModelConfig, seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if cfg.kind == "logistic":
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                             LogisticRegression(C=cfg.C, max_iter=cfg.max_iter))
    if cfg.kind == "gbm":
        return HistGradientBoostingClassifier(random_state=seed)
    return make_pipeline(SimpleImputer(strategy="median"), RandomForestClassifier(n_estimators=300, random_state=seed))


def _load(cfg: TabularRunConfig) -> tuple[pd.DataFrame, pd.Series, np.ndarray, list[dict[str, object]]]:
    d = cfg.data
    if d.csv is not None:
        if d.label is None:
            raise ConfigError("a CSV input needs data.label", where="data.label", fix="set data.label = 'column'")
        raw = read_csv(d.csv)
        df = validate_table(raw, label=d.label, id_column=d.id_column, source=str(d.csv), binary_label=True,
                            numeric=[c for c in raw.columns if c not in {d.label, d.id_column}])
        groups = df[d.id_column].to_numpy() if d.id_column else np.arange(len(df))
        X = df.drop(columns=[c for c in (d.label, d.id_column) if c])
        from medkit.core.hashing import sha256_file

        prov = [{"name": Path(d.csv).name, "source": str(d.csv), "sha256": sha256_file(d.csv), "n_rows": len(df)}]
        return X, df[d.label].astype(int), groups, prov
    if d.dataset is None:
        raise ConfigError("set either data.dataset or data.csv", where="data", fix="e.g. dataset = 'wdbc'")
    ds = load_dataset(d.dataset, data_dir=d.data_dir)
    if ds.info.task != "binary" or ds.X is None:
        raise ConfigError(f"dataset '{d.dataset}' is a {ds.info.task} task, not tabular binary",
                          where="data.dataset", fix="use a binary dataset such as 'wdbc'")
    X = validate_table(ds.X, source=d.dataset)
    return X, pd.Series(np.asarray(ds.y), name="label"), np.asarray(ds.groups), [ds.provenance()]


def run_tabular(cfg: TabularRunConfig) -> tuple[RunDir, dict[str, object]]:
    """Run the workflow; returns the run directory and the metrics dict."""
    from sklearn.base import clone

    seed_everything(cfg.seed)
    X, y, groups, prov = _load(cfg)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    run.save_datasets(prov)
    log.info("loaded %d rows, %d features", len(X), X.shape[1])

    # Data quality gate: errors always stop the run, warnings unless explicitly allowed.
    from medkit.quality import check_xy, gate

    quality = check_xy(X, y, groups, source=cfg.data.dataset or Path(str(cfg.data.csv)).name)
    quality.write_html(run.path / "quality.html")
    run.write_json("quality.json", quality.to_dict())
    gate(quality, allow_warnings=cfg.allow_quality_warnings)

    base = _make_model(cfg.model, cfg.seed)
    oof = np.zeros(len(y))
    fold_of = np.zeros(len(y), dtype=int)
    fold_rows = []
    t_fit = t_pred = 0.0
    for k, split in enumerate(kfold(len(y), cfg.evaluation.n_splits, seed=cfg.seed, y=y, groups=groups)):
        model = clone(base)
        t0 = time.perf_counter()
        model.fit(X.iloc[split.train], y.iloc[split.train])  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        oof[split.test] = model.predict_proba(X.iloc[split.test])[:, 1]  # type: ignore[attr-defined]
        t_pred += time.perf_counter() - t1
        t_fit += t1 - t0
        fold_of[split.test] = k
        from sklearn.metrics import roc_auc_score

        fold_rows.append({"fold": k + 1, "n_test": len(split.test),
                          "auroc": float(roc_auc_score(y.iloc[split.test], oof[split.test]))})
    yv = y.to_numpy()
    rep = binary_report(yv, oof, n_boot=cfg.evaluation.n_boot, seed=cfg.seed, threshold=cfg.evaluation.threshold)
    cal = calibration(yv, oof)
    cm = confusion(yv, oof, cfg.evaluation.threshold)
    final = clone(base).fit(X, y)  # type: ignore[attr-defined]
    import joblib

    joblib.dump({"model": final, "features": list(X.columns), "label": str(y.name)}, run.path / "model.joblib")
    metrics: dict[str, object] = {
        "cv": f"{cfg.evaluation.n_splits}-fold stratified, seed {cfg.seed}",
        "pooled_out_of_fold": {k: v.as_dict() for k, v in rep.items()},
        "folds": fold_rows,
        "calibration": {"slope": cal.slope, "intercept": cal.intercept, "ece": cal.ece, "ici": cal.ici,
                        "brier": cal.brier},
        "confusion": cm.tolist(),
        "fit_seconds": t_fit,
        "predict_seconds": t_pred,
    }
    run.save_metrics(metrics)
    pd.DataFrame({"row": np.arange(len(yv)), "fold": fold_of + 1, "y": yv, "p": oof}).to_csv(
        run.path / "oof_predictions.csv", index=False)

    plots = run.sub("plots")
    curves = {f"fold {r['fold']} (AUROC {r['auroc']:.3f})": (yv[fold_of == i], oof[fold_of == i])
              for i, r in enumerate(fold_rows)}
    curves[f"pooled (AUROC {rep['auroc'].value:.3f})"] = (yv, oof)
    from medkit.evaluation.plots import save

    roc = save(roc_plot(curves, "ROC, out-of-fold"), plots / "roc.png")
    calp = save(calibration_plot({cfg.model.kind: (cal, oof)}, "Calibration, out-of-fold"), plots / "calibration.png")
    cmp_ = save(confusion_plot(cm, ("benign", "malignant") if cfg.data.dataset == "wdbc" else ("0", "1"),
                               f"Confusion at threshold {cfg.evaluation.threshold}"), plots / "confusion.png")
    bars = save(metric_bars([(k, v.value, v.ci_low, v.ci_high) for k, v in rep.items() if k != "log_loss"],
                            "Metrics with 95% CI", "value"), plots / "metrics.png")

    from medkit.reporting.model_card import add_trust_to_run

    add_trust_to_run(run, X, y, groups=groups, oof=oof, folds=fold_of + 1, model=final, quality=quality,
                     n_boot=min(cfg.evaluation.n_boot, 500), seed=cfg.seed)

    report = Report(f"{cfg.name}: {cfg.model.kind} on {cfg.data.dataset or Path(str(cfg.data.csv)).name}",
                    subtitle=f"{cfg.evaluation.n_splits}-fold cross-validation, {len(yv)} patients, "
                             f"{int(yv.sum())} positive", meta={"run": run.path.name, "seed": str(cfg.seed)})
    s = report.section("Headline")
    s.text(f"Out-of-fold AUROC {rep['auroc']} across {cfg.evaluation.n_splits} folds; calibration slope "
           f"{cal.slope:.2f}, intercept {cal.intercept:.2f}, Brier {cal.brier:.3f}.")
    s.metrics(rep)
    s.figure(bars, "Metrics with bootstrap 95% confidence intervals")
    s = report.section("Discrimination")
    s.figure(roc, "ROC curves per fold and pooled")
    s.table(fold_rows, caption="Per-fold AUROC")
    s = report.section("Calibration")
    s.text("Slope < 1 means predictions are too extreme; intercept ≠ 0 means risks are systematically too high/low.")
    s.figure(calp, "Reliability diagram (10 equal-width bins) and distribution of predictions")
    s = report.section("Errors at the decision threshold")
    s.figure(cmp_, "Confusion matrix, pooled out-of-fold")
    s = report.section("Trust")
    qs = quality.summary()
    s.text(f"Data quality: {qs['n_errors']} errors, {qs['n_warnings']} warnings, {qs['n_info']} notes over "
           f"{len(qs['checks_run'])} checks. " + " ".join(qs["warnings"][:3]))
    s.link("quality.html", "Data-quality report")
    s.link("model_card.html", "Model card and TRIPOD+AI checklist")
    if (run.path / "plots" / "shap_importance.png").exists():
        s.figure(run.path / "plots" / "shap_importance.png", "What drives the predictions (SHAP)")
    s = report.section("Provenance")
    s.table([{k: v for k, v in p.items() if k != "files"} for p in prov], caption="Datasets read (sha256 of each file)")
    s.text(f"Fit time {t_fit:.2f} s, predict time {t_pred:.3f} s over all folds.")
    report.write(run.path / "report.html")
    return run, metrics


def run_demo(out_dir: Path, *, seed: int = 0, data_dir: Path | None = None) -> DemoResult:
    cfg = TabularRunConfig(name="wdbc-logistic", seed=seed, runs_dir=out_dir)
    run, metrics = run_tabular(cfg)
    auroc = metrics["pooled_out_of_fold"]["auroc"]  # type: ignore[index]
    return DemoResult(
        title="Foundation: breast-cancer diagnosis (WDBC), logistic regression, 5-fold CV",
        report=run.path / "report.html",
        summary=f"AUROC {auroc['value']:.3f} (95% CI {auroc['ci_low']:.3f}–{auroc['ci_high']:.3f}) on 569 patients.",
        run_dir=run.path,
    )
