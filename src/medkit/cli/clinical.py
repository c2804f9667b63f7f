"""``medkit clinical train|evaluate|predict`` — thin wrappers over :mod:`medkit.clinical.workflow`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Clinical diagnosis, ICU risk and survival models.")

_DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")]
_Dataset = Annotated[str | None, typer.Option(help="Registered dataset: physionet2012-a, physionet2012-b, wdbc, "
                                                   "veteran, whas500, gbsg2.")]
_Csv = Annotated[Path | None, typer.Option(help="A CSV table instead of a dataset (one row per patient).")]


def _config(config: Path | None, overrides: dict[str, Any]) -> Any:
    from medkit.clinical.workflow import ClinicalConfig
    from medkit.core.config import load_config

    base = load_config(config, ClinicalConfig, []) if config else ClinicalConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    if "csv" in given and "dataset" not in given:
        given["dataset"] = None
    return ClinicalConfig(**{**base.model_dump(), **given})


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Model bundle directory to write.")] = Path("clinical-model"),
    dataset: _Dataset = None,
    csv: _Csv = None,
    label: Annotated[str | None, typer.Option(help="0/1 label column of --csv (binary task).")] = None,
    time_column: Annotated[str | None, typer.Option(help="Survival time column of --csv (> 0).")] = None,
    event_column: Annotated[str | None, typer.Option(help="Event column of --csv (0/1).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Patient id column of --csv.")] = None,
    model: Annotated[str | None, typer.Option(help="logistic | gbm | mlp | grud | ensemble (ICU); logistic | gbm | "
                                                   "mlp (binary); coxph | rsf | deepsurv (survival).")] = None,
    features: Annotated[str | None, typer.Option(help="basic | extended (ICU feature set).")] = None,
    limit: Annotated[int | None, typer.Option(help="Read only the first N PhysioNet records (quick runs).")] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Epoch cap of neural models.")] = None,
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", help="Train the mlp/deepsurv with "
                                                     "(epsilon, 1e-5)-differential privacy (DP-SGD, Opacus).")] = None,
    strict_cleaning: Annotated[bool, typer.Option(help="Raise on any implausible value instead of removing it "
                                                       "by a counted rule.")] = False,
    allow_quality_warnings: Annotated[bool, typer.Option("--allow-quality-warnings", help="Train despite data-"
                                                         "quality warnings (errors always stop).")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap resamples for CIs.")] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where run directories go.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config (options override it).")] = None,
    data_dir: _DataDir = None,
) -> None:
    """Train on a hold-out split, write the run report and a model bundle."""
    from medkit.clinical.workflow import train as _train

    cfg = _config(config, {"dataset": dataset, "csv": csv, "label": label, "time_column": time_column,
                           "event_column": event_column, "id_column": id_column, "model": model,
                           "features": features, "limit": limit, "max_epochs": max_epochs, "dp_epsilon": dp_epsilon,
                           "strict_cleaning": strict_cleaning or None,
                           "allow_quality_warnings": allow_quality_warnings or None, "seed": seed, "n_boot": n_boot,
                           "runs_dir": runs_dir, "data_dir": data_dir})
    res = _train(cfg, out)
    test = res.metrics.get("test", {})
    head = test.get("auroc") or test.get("harrell_c") or {}
    name = "AUROC" if "auroc" in test else "Harrell's C"
    typer.echo(f"hold-out {name} {head.get('value', float('nan')):.3f} "
               f"(95% CI {head.get('ci_low', float('nan')):.3f}-{head.get('ci_high', float('nan')):.3f})")
    typer.echo(f"bundle: {res.bundle}\nreport: {res.run.path / 'report.html'}")


@app.command()
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory from `medkit clinical train`.")],
    dataset: _Dataset = None,
    csv: _Csv = None,
    label: Annotated[str | None, typer.Option(help="0/1 label column of --csv.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Survival time column of --csv.")] = None,
    event_column: Annotated[str | None, typer.Option(help="Event column of --csv.")] = None,
    limit: Annotated[int | None, typer.Option(help="Read only the first N PhysioNet records.")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap resamples.")] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where run directories go.")] = None,
    allow_quality_warnings: Annotated[bool, typer.Option("--allow-quality-warnings", help="Evaluate despite "
                                                         "data-quality warnings (errors always stop).")] = False,
    data_dir: _DataDir = None,
) -> None:
    """Evaluate a bundle on labelled data it was not trained on (e.g. PhysioNet set B)."""
    from medkit.clinical.workflow import evaluate as _evaluate

    cfg = _config(None, {"dataset": dataset, "csv": csv, "label": label, "time_column": time_column,
                         "event_column": event_column, "limit": limit, "n_boot": n_boot, "runs_dir": runs_dir,
                         "data_dir": data_dir, "name": "clinical",
                         "allow_quality_warnings": allow_quality_warnings or None})
    run, metrics = _evaluate(bundle, cfg)
    test = metrics["test"]
    head = test.get("auroc") or test.get("harrell_c")
    typer.echo(f"{'AUROC' if 'auroc' in test else 'Harrell C'} {head['value']:.3f} "
               f"(95% CI {head['ci_low']:.3f}-{head['ci_high']:.3f})\nreport: {run.path / 'report.html'}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory from `medkit clinical train`.")],
    input: Annotated[Path, typer.Argument(help="CSV (one row per patient, or long record_id,Time,Parameter,Value "
                                               "for ICU bundles), a record file or a folder of <RecordID>.txt.")],
    out: Annotated[Path, typer.Option(help="Output prefix: writes <out>.csv and <out>.json.")] = Path("predictions"),
    id_column: Annotated[str | None, typer.Option(help="Patient id column of a tabular CSV.")] = None,
    top_k: Annotated[int, typer.Option(help="Contributing features listed per patient.")] = 5,
    strict_cleaning: Annotated[bool, typer.Option(help="Raise on implausible values.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Add SHAP attributions (medkit.interpret.explain) "
                                                            "per patient to the JSON output.")] = False,
) -> None:
    """Per-patient risk and top contributing features → CSV and JSON."""
    import json

    from medkit.clinical.bundle import load_clinical_bundle, predict_frame
    from medkit.core.runs import atomic_write_text

    b = load_clinical_bundle(bundle)
    cleaning: list[dict[str, Any]] = []
    if b.task == "icu":
        from medkit.clinical.inputs import load_records_input

        X, rep = load_records_input(input, strict_cleaning=strict_cleaning)
        cleaning = rep.counts
    else:
        from medkit.data.tabular import read_csv

        X = read_csv(input)
        if id_column:
            X = X.set_index(id_column)
    frame = predict_frame(b, X, top_k=top_k)
    csv_path, json_path = out.with_suffix(".csv"), out.with_suffix(".json")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv_path, index=False)
    records = frame.to_dict(orient="records")
    for r in records:
        if "top_features" in r:
            r["top_features"] = json.loads(r["top_features"])
        r["id"] = str(r["id"])
    payload: dict[str, Any] = {"model": b.info.name, "outputs": b.info.outputs, "cleaning": cleaning,
                               "predictions": records}
    if explain:
        from medkit.clinical.trust import explain_predictions

        payload["explanations"] = explain_predictions(b, X, top_k=top_k)
    atomic_write_text(json_path, json.dumps(payload, indent=2))
    typer.echo(f"{len(frame)} patients; wrote {csv_path} and {json_path}")
