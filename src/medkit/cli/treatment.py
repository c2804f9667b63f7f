"""``medkit treatment train|evaluate|recommend`` (thin: the work is in medkit.treatment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config (see docs/treatment.md).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a key: --set actg.n_boot=200")]
DataOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")]
QWarnOpt = Annotated[bool, typer.Option("--allow-quality-warnings",
                                         help="Train despite data-quality warnings (errors always stop).")]
RunsOpt = Annotated[Path | None, typer.Option("--runs-dir", help="Where run directories go.")]


def _config(config: Path | None, set_: list[str] | None, data_dir: Path | None, runs_dir: Path | None) -> object:
    from medkit.core.config import load_config, validate_config
    from medkit.treatment.workflow import TreatmentRunConfig

    cfg = load_config(config, TreatmentRunConfig, set_ or []) if config else validate_config(
        TreatmentRunConfig, _overrides(set_ or []))
    if data_dir is not None:
        cfg.data_dir = data_dir
    if runs_dir is not None:
        cfg.runs_dir = runs_dir
    return cfg


def _overrides(items: list[str]) -> dict[str, object]:
    from medkit.core.config import apply_overrides

    return apply_overrides({}, items)


@app.command()
def train(config: ConfigOpt = None, set_: SetOpt = None, data_dir: DataOpt = None, runs_dir: RunsOpt = None,
          out: Annotated[Path | None, typer.Option(help="Bundle directory (default: <run>/bundle).")] = None,
          allow_quality_warnings: QWarnOpt = False) -> None:
    """Fit the conservative treatment policy on all ACTG 175 patients and write a model bundle."""
    from medkit.treatment.workflow import train_bundle

    cfg = _config(config, set_, data_dir, runs_dir)
    if allow_quality_warnings:
        cfg.allow_quality_warnings = True  # type: ignore[attr-defined]
    run, bundle = train_bundle(cfg, out)  # type: ignore[arg-type]
    typer.echo(f"Bundle: {bundle}\nRun directory: {run.path}")


@app.command()
def evaluate(config: ConfigOpt = None, set_: SetOpt = None, data_dir: DataOpt = None,
             runs_dir: RunsOpt = None, allow_quality_warnings: QWarnOpt = False) -> None:
    """Cross-validate treatment rules on ACTG 175 and CF models on GDSC2; write report.html."""
    from medkit.treatment.workflow import headline, run_treatment

    cfg = _config(config, set_, data_dir, runs_dir)
    if allow_quality_warnings:
        cfg.allow_quality_warnings = True  # type: ignore[attr-defined]
    run, metrics = run_treatment(cfg)  # type: ignore[arg-type]
    typer.echo(headline(metrics))
    typer.echo(f"Report: {run.path / 'report.html'}")


@app.command()
def recommend(
    bundle: Annotated[Path, typer.Option("--bundle", help="Bundle directory from `medkit treatment train`.")],
    patient: Annotated[Path, typer.Option("--patient", help="patient.json (object or list) or a CSV, one row each.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    drivers: Annotated[bool, typer.Option(help="Report the covariates driving the benefit.")] = True,
    explain: Annotated[bool, typer.Option(help="Add SHAP attributions of the recommended arm's model.")] = False,
) -> None:
    """Per-arm expected outcome with interval, recommended arm, benefit over reference, driving features."""
    import json

    from medkit.core.errors import DataError
    from medkit.treatment.serving import load_predictor

    if not patient.is_file():
        raise DataError(f"patient file not found: {patient}", where="--patient", fix="pass a .json or .csv file")
    if patient.suffix.lower() == ".csv":
        from medkit.data.tabular import read_csv

        rows = read_csv(patient).to_dict(orient="records")
    else:
        try:
            data = json.loads(patient.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"patient file is not valid JSON: {exc}", where=str(patient),
                            fix='write {"age": 40, "cd40": 350, ...} or a list of such objects') from None
        rows = data if isinstance(data, list) else [data]
    result = load_predictor(bundle).predict(rows, explain=drivers, attributions=explain)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    unit = result.get("unit") or ""
    for i, p in enumerate(result["patients"]):
        typer.echo(f"patient {i}: recommended {p['recommended_name']} (arm {p['recommended_arm']}); expected benefit "
                   f"over reference arm {p['reference_arm']}: {p['benefit_over_reference']:+.1f} {unit}"
                   + ("" if p["switched_from_default"] else "  [kept the best single arm: no confident benefit]"))
        for a in p["per_arm"]:
            lo, hi = a["interval"]
            typer.echo(f"  {a['name']:<9} expected {result['outcome']} {a['expected']:7.1f} (95% interval {lo:.1f}-"
                       f"{hi:.1f}); vs default {a['benefit_vs_default']:+.1f} (lower bound "
                       f"{a['benefit_vs_default_lower']:+.1f})")
        if p.get("drivers"):
            typer.echo("  drivers: " + ", ".join(f"{d['feature']} ({d['effect_on_benefit']:+.1f})" for d in p["drivers"]))
        if p.get("attributions"):
            at = p["attributions"]
            typer.echo(f"  attributions ({at['method']}, {at['explains']}): " + ", ".join(
                f"{f['feature']}={f['value']:g} ({f['contribution']:+.1f})" for f in at["top_features"][:5]))
