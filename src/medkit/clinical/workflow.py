"""Clinical workflow: load → clean → split → train → evaluate → bundle; used by ``medkit clinical``.

``train`` holds out ``test_fraction`` of the patients (stratified; patient ids checked for
leakage), fits the chosen model on the rest, reports hold-out metrics and writes a model
bundle. ``evaluate`` applies a bundle to another data set (e.g. PhysioNet set B) and refuses
patients the model was trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from medkit.clinical.inputs import ClinicalData, load_csv_table, load_registered
from medkit.core.config import StrictModel
from medkit.core.errors import ConfigError, ValidationError
from medkit.core.logging import get_logger
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything

log = get_logger("medkit.clinical")

BINARY_MODELS = ("logistic", "gbm", "mlp")
ICU_MODELS = ("logistic", "gbm", "mlp", "grud", "ensemble")
SURVIVAL_MODELS = ("coxph", "rsf", "deepsurv")


class ClinicalConfig(StrictModel):
    """Settings of ``medkit clinical train`` (TOML or CLI options)."""

    name: str = "clinical"
    dataset: str | None = "physionet2012-a"
    csv: Path | None = None
    label: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    event_column: str | None = None
    model: str = "gbm"
    features: Literal["basic", "extended"] = "extended"
    limit: int | None = Field(None, ge=10)
    seed: int = Field(0, ge=0)
    test_fraction: float = Field(0.2, gt=0, lt=0.9)
    max_epochs: int | None = Field(None, ge=1)
    dp_epsilon: float | None = Field(None, gt=0)
    dp_delta: float = Field(1e-5, gt=0, lt=1)
    strict_cleaning: bool = False
    allow_quality_warnings: bool = False
    n_boot: int = Field(500, ge=0)
    data_dir: Path | None = None
    runs_dir: Path = Path("runs")


@dataclass
class TrainOutcome:
    run: RunDir
    bundle: Path
    metrics: dict[str, Any]


def load_data(cfg: ClinicalConfig) -> ClinicalData:
    if cfg.csv is not None:
        return load_csv_table(cfg.csv, label=cfg.label, time_column=cfg.time_column, event_column=cfg.event_column,
                              id_column=cfg.id_column)
    if cfg.dataset is None:
        raise ConfigError("set a dataset or a CSV", where="dataset", fix="e.g. --dataset physionet2012-a")
    return load_registered(cfg.dataset, data_dir=cfg.data_dir, limit=cfg.limit, strict_cleaning=cfg.strict_cleaning)


def _check_model(task: str, model: str) -> None:
    allowed = {"icu": ICU_MODELS, "binary": BINARY_MODELS, "survival": SURVIVAL_MODELS}[task]
    if model not in allowed:
        raise ConfigError(f"model '{model}' does not fit a {task} task", where="model",
                          fix=f"use one of {', '.join(allowed)}")


def _dp_hook(cfg: ClinicalConfig, task: str) -> Any:
    if cfg.dp_epsilon is None:
        return None
    if cfg.model not in {"mlp", "deepsurv"}:
        raise ConfigError(f"--dp-epsilon is supported for the mlp (and deepsurv) models, not '{cfg.model}'",
                          where="dp_epsilon", fix="use --model mlp, or drop --dp-epsilon; GRU-D's GRUCell is not "
                                                  "supported by Opacus' per-sample gradients")
    try:
        from medkit.privacy.dp import make_dp_setup_hook
    except ImportError as exc:
        raise ConfigError(f"differential privacy is not available: {exc}", where="dp_epsilon",
                          fix="install medkit[privacy] or train without --dp-epsilon") from None
    epochs = cfg.max_epochs or (60 if cfg.model == "mlp" else 300)
    return make_dp_setup_hook(cfg.dp_epsilon, cfg.dp_delta, epochs=epochs)


def make_model(cfg: ClinicalConfig, task: str, setup_hook: Any = None) -> Any:
    _check_model(task, cfg.model)
    if task == "icu":
        from medkit.clinical.icu import ICUMortalityModel

        return ICUMortalityModel(cfg.model, cfg.features, cfg.seed, cfg.max_epochs, setup_hook)  # type: ignore[arg-type]
    if task == "binary":
        from medkit.clinical.tabular import TabularRiskModel

        return TabularRiskModel(cfg.model, cfg.seed, cfg.max_epochs, setup_hook)  # type: ignore[arg-type]
    from medkit.clinical.survival import RSF, CoxPH, DeepSurv

    if cfg.model == "coxph":
        return CoxPH()
    if cfg.model == "rsf":
        return RSF(seed=cfg.seed)
    kw: dict[str, Any] = {"seed": cfg.seed, "setup_hook": setup_hook}
    if cfg.max_epochs:
        kw["max_epochs"] = cfg.max_epochs
    return DeepSurv(**kw)


def split_indices(data: ClinicalData, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    from medkit.data.splits import check_no_leakage

    strat = data.y if data.y is not None else data.event
    tr, te = train_test_split(np.arange(len(data.ids)), test_size=frac, stratify=strat, random_state=seed)
    tr, te = np.sort(tr), np.sort(te)
    check_no_leakage(data.ids[tr], data.ids[te])
    return tr, te


def fit_model(model: Any, data: ClinicalData) -> Any:
    if data.task == "survival":
        from medkit.clinical.survival import make_surv_y

        assert data.time is not None and data.event is not None
        return model.fit(data.X, make_surv_y(data.time, data.event))
    return model.fit(data.X, data.y)


def score(model: Any, data: ClinicalData) -> np.ndarray:
    """Predicted risk: probability (binary/icu) or log-risk score (survival)."""
    if data.task == "survival":
        return np.asarray(model.predict(data.X), dtype=float)
    return np.asarray(model.predict_proba(data.X)[:, 1], dtype=float)


def train(cfg: ClinicalConfig, bundle_dir: Path) -> TrainOutcome:
    """Train with a hold-out evaluation, write the run directory (report) and the model bundle."""
    from medkit.clinical.bundle import save_clinical_bundle
    from medkit.clinical.report import write_run_report
    from medkit.clinical.trust import add_trust, quality_gate

    seed_everything(cfg.seed)
    data = load_data(cfg)
    _check_model(data.task, cfg.model)
    hook = _dp_hook(cfg, data.task)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    run.save_datasets(data.provenance)
    # data-quality gate before any fitting: errors always stop the run, warnings unless allowed/reviewed
    quality = quality_gate(run, data, allow_warnings=cfg.allow_quality_warnings)
    tr, te = split_indices(data, cfg.test_fraction, cfg.seed)
    d_tr, d_te = data.take(tr), data.take(te)
    model = make_model(cfg, data.task, hook)
    t0 = time.perf_counter()
    fit_model(model, d_tr)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    risk = score(model, d_te)
    pred_s = time.perf_counter() - t0
    metrics = write_run_report(run, cfg.model, d_tr, d_te, model, risk, n_boot=cfg.n_boot, seed=cfg.seed,
                               title=f"{cfg.name}: {cfg.model} on {data.name}",
                               split=f"hold-out {cfg.test_fraction:.0%} of {data.name} (seed {cfg.seed})",
                               quality=quality.summary())
    metrics["quality"] = quality.summary()
    metrics.update({"fit_seconds": fit_s, "predict_seconds": pred_s})
    if hook is not None:
        metrics["privacy"] = hook.report()
        run.write_json("privacy.json", metrics["privacy"])
    run.save_metrics(metrics)
    # the card reads config/metrics/privacy.json, so it comes after they are written
    add_trust(run, d_tr, model, quality, n_boot=cfg.n_boot, seed=cfg.seed)
    bundle = save_clinical_bundle(bundle_dir, model, data, cfg, metrics, run.path, train_ids=d_tr.ids)
    log.info("bundle written to %s", bundle)
    return TrainOutcome(run, bundle, metrics)


def evaluate(bundle_dir: Path, cfg: ClinicalConfig) -> tuple[RunDir, dict[str, Any]]:
    """Apply a bundle to a labelled data set (external validation) and write a report."""
    from medkit.clinical.bundle import load_clinical_bundle
    from medkit.clinical.report import write_run_report
    from medkit.clinical.trust import quality_gate

    b = load_clinical_bundle(bundle_dir)
    data = load_data(cfg)
    if data.task != b.task:
        raise ConfigError(f"bundle is a {b.task} model but the data is a {data.task} task", where="dataset",
                          fix="evaluate on data of the same kind as the training data")
    overlap = set(map(str, data.ids)) & b.train_ids
    # record ids are global for PhysioNet; row numbers / CSV ids only mean the same patient in the same data set
    if overlap and (b.task == "icu" or data.name == b.info.extra.get("dataset")):
        raise ValidationError(f"{len(overlap)} patients of the evaluation data were used to train the model "
                              f"(e.g. patient id {sorted(overlap)[0]})", where=str(bundle_dir),
                              fix="evaluate on patients the model has not seen (for ICU models: physionet2012-b); "
                                  "the training run's report already holds the hold-out metrics")
    run = RunDir.create(f"{cfg.name}-evaluate", cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    run.save_datasets(data.provenance)
    # the same gate as training: metrics computed on impossible values or a leaked label column would be
    # reported with confidence intervals that mean nothing, so errors (and unreviewed warnings) stop here too
    quality = quality_gate(run, data, allow_warnings=cfg.allow_quality_warnings)
    t0 = time.perf_counter()
    risk = score(b.model, data)
    metrics = write_run_report(run, b.info.name, b.train_like(data), data, b.model, risk, n_boot=cfg.n_boot,
                               seed=cfg.seed, title=f"External evaluation: {b.info.name} on {data.name}",
                               split=f"all of {data.name}", quality=quality.summary())
    metrics["quality"] = quality.summary()
    metrics["predict_seconds"] = time.perf_counter() - t0
    run.save_metrics(metrics)
    return run, metrics
