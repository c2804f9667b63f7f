"""Property-model workflow: load (registry or CSV) → standardise → scaffold/random split → fit → evaluate → bundle.

Writes a run directory (config, dataset provenance with sha256, metrics with bootstrap CIs, invalid-row report)
and a model bundle that ``medkit drug predict`` and ``medkit serve`` load.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from medkit.core.bundle import BundleInfo, save_bundle_info
from medkit.core.config import StrictModel
from medkit.core.errors import ConfigError
from medkit.core.runs import RunDir

__all__ = ["PropertyRunConfig", "evaluate_predictions", "make_model", "save_property_bundle", "train_property_model"]


class PropertyRunConfig(StrictModel):
    """``medkit drug train`` settings."""

    name: str = "drug-property"
    dataset: str | None = "esol"
    csv: Path | None = None
    smiles_column: str | None = None
    targets: list[str] | None = None
    task_type: Literal["regression", "classification"] | None = None
    model: Literal["dmpnn", "rf", "gbm"] = "dmpnn"
    split: Literal["scaffold", "random"] = "scaffold"
    seed: int = Field(0, ge=0)
    epochs: int = Field(50, ge=1)
    ensemble_size: int = Field(3, ge=1)
    n_estimators: int = Field(300, ge=1)
    n_boot: int = Field(1000, ge=0)
    duplicates: Literal["merge", "refuse"] = "merge"
    allow_quality_warnings: bool = False
    data_dir: Path | None = None
    runs_dir: Path = Path("runs")


def make_model(kind: str, task_type: str, *, seed: int = 0, epochs: int = 50, ensemble_size: int = 1,
               n_estimators: int = 300, progress: bool = True, checkpoint_dir: str | None = None) -> Any:
    from medkit.drug.dmpnn import DMPNNModel
    from medkit.drug.predictors import FingerprintModel

    if kind == "dmpnn":
        return DMPNNModel(task_type=task_type, epochs=epochs, ensemble_size=ensemble_size, seed=seed,  # type: ignore[arg-type]
                          progress=progress, checkpoint_dir=checkpoint_dir)
    if kind in {"rf", "gbm"}:
        return FingerprintModel(task_type=task_type, model=kind, n_estimators=n_estimators, seed=seed)  # type: ignore[arg-type]
    raise ConfigError(f"unknown model {kind!r}", where="model", fix="use dmpnn, rf or gbm")


def evaluate_predictions(y: np.ndarray, p: np.ndarray, tasks: list[str], task_type: str, *, n_boot: int = 1000,
                         seed: int = 0) -> dict[str, Any]:
    """Per-task metrics with bootstrap CIs on labelled rows; ``mean`` over tasks of RMSE or AUROC."""
    from medkit.evaluation import binary_report, regression_report

    out: dict[str, Any] = {}
    key = "rmse" if task_type == "regression" else "auroc"
    vals = []
    for j, t in enumerate(tasks):
        m = ~np.isnan(y[:, j]) & ~np.isnan(p[:, j])
        if task_type == "classification" and len(np.unique(y[m, j])) < 2:
            out[t] = {"note": "single class in test set; AUROC undefined"}
            continue
        rep = (regression_report(y[m, j], p[m, j], n_boot=n_boot, seed=seed) if task_type == "regression"
               else binary_report(y[m, j], p[m, j], n_boot=n_boot, seed=seed))
        out[t] = {k: v.as_dict() for k, v in rep.items()}
        vals.append(rep[key].value)
    out["mean"] = {key: float(np.mean(vals)) if vals else float("nan"), "n_tasks": len(vals)}
    return out


def _load(cfg: PropertyRunConfig) -> tuple[list[str], np.ndarray, list[str], str, list[dict[str, Any]]]:
    from medkit.core.hashing import sha256_file
    from medkit.data import load_dataset
    from medkit.data.drug_sets import read_molecule_table

    if cfg.csv is not None:
        tab = read_molecule_table(cfg.csv, smiles_column=cfg.smiles_column, targets=cfg.targets,
                                  task_type=cfg.task_type)
        tt = cfg.task_type or ("classification" if set(np.unique(tab.y[~np.isnan(tab.y)])) <= {0.0, 1.0}
                               else "regression")
        prov = [{"name": cfg.csv.name, "source": str(cfg.csv), "sha256": sha256_file(cfg.csv),
                 "n_rows": len(tab.smiles)}]
        return tab.smiles, tab.y, tab.tasks, tt, prov
    if cfg.dataset is None:
        raise ConfigError("set either dataset or csv", where="dataset", fix="e.g. --dataset esol or --csv file.csv")
    ds = load_dataset(cfg.dataset, data_dir=cfg.data_dir)
    if "tasks" not in ds.extra:
        raise ConfigError(f"dataset {cfg.dataset!r} is not a molecular property dataset", where="dataset",
                          fix="use esol, freesolv, lipo, bbbp, bace, clintox, tox21, sider or hiv")
    y = np.asarray(ds.y)
    tasks = list(ds.extra["tasks"])
    if cfg.targets:
        idx = [tasks.index(t) for t in cfg.targets if t in tasks]
        y, tasks = y[:, idx], [tasks[i] for i in idx]
    return list(ds.X), y, tasks, cfg.task_type or ds.extra["task_type"], [ds.provenance()]


def train_property_model(cfg: PropertyRunConfig, *, progress: bool = True) -> tuple[RunDir, Path, dict[str, Any]]:
    """Run the workflow; returns the run directory, the bundle directory and the metrics."""
    from medkit.data.scaffold import random_split, scaffold_split
    from medkit.drug.chem import standardise_smiles
    from medkit.drug.quality_gate import quality_gate
    from medkit.drug.run_report import write_run_report

    smiles, y, tasks, task_type, prov = _load(cfg)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    # the model card reads config.model as {"kind": ..., hyper-parameters}; the flat CLI value is kept under kind
    conf = cfg.model_dump(mode="json")
    conf["model"] = {"kind": cfg.model, **({"epochs": cfg.epochs, "ensemble_size": cfg.ensemble_size}
                                           if cfg.model == "dmpnn" else {"n_estimators": cfg.n_estimators})}
    run.save_config(conf, seed=cfg.seed)
    run.save_datasets(prov)
    std = standardise_smiles(smiles)
    run.write_json("invalid_rows.json", {"summary": std.summary(), "rows": std.report_rows()})
    keep = std.valid_index
    gate = quality_gate([std.smiles[i] for i in keep], y[keep], tasks, task_type,
                        source=cfg.dataset or (cfg.csv.name if cfg.csv else "input"), out_dir=run.path,
                        duplicates=cfg.duplicates, allow_warnings=cfg.allow_quality_warnings)
    smi, Y = gate.smiles, gate.y
    split = scaffold_split(smi, seed=cfg.seed) if cfg.split == "scaffold" else random_split(len(smi), seed=cfg.seed)
    model = make_model(cfg.model, task_type, seed=cfg.seed, epochs=cfg.epochs, ensemble_size=cfg.ensemble_size,
                       n_estimators=cfg.n_estimators, progress=progress)
    model.tasks_ = tasks
    pick = lambda idx: [smi[i] for i in idx]  # noqa: E731
    t0 = time.perf_counter()
    if cfg.model == "dmpnn":
        model.fit(pick(split.train), Y[split.train], pick(split.val), Y[split.val])
    else:
        model.fit(pick(split.train), Y[split.train])
    fit_s = time.perf_counter() - t0
    res = model.predict_with_uncertainty(pick(split.test))
    metrics: dict[str, Any] = {"split": f"{cfg.split} 80/10/10 seed {cfg.seed}", "n_train": len(split.train),
               "n_val": len(split.val) if split.val is not None else 0, "n_test": len(split.test),
               "task_type": task_type, "fit_seconds": fit_s, "input": std.summary(), "duplicates": gate.merge,
               "quality": gate.report.summary(),
               "test": evaluate_predictions(Y[split.test], res.mean, tasks, task_type, n_boot=cfg.n_boot,
                                            seed=cfg.seed)}
    run.save_metrics(metrics)
    bundle = save_property_bundle(model, run.sub("bundle"), name=cfg.name, task_type=task_type,
                                  metrics={"test_" + k: v for k, v in metrics["test"]["mean"].items()},
                                  run_dir=run.path, extra={"model": cfg.model, "dataset": cfg.dataset or str(cfg.csv)})
    write_run_report(run, cfg, metrics, gate.report)
    return run, bundle, metrics


def save_property_bundle(model: Any, path: Path, *, name: str, task_type: str, metrics: dict[str, Any],
                         run_dir: Path | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.joblib`` + ``bundle.json`` (pillar ``drug``) into ``path``; returns ``path``."""
    import joblib

    path.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path / "model.joblib")
    save_bundle_info(path, BundleInfo(
        pillar="drug", kind="property-predictor", name=name, inputs={"smiles": "list of SMILES strings"},
        outputs={"tasks": list(model.tasks_), "task_type": task_type,
                 "uncertainty": "variance across ensemble members / trees"},
        metrics=metrics, preprocessing={"standardise": "RDKit cleanup, largest fragment, neutralise, canonical SMILES"},
        run_dir=str(run_dir) if run_dir else None, extra=extra or {}))
    return path
