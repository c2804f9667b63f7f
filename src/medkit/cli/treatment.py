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


def _csv_list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _table_spec(treatment: str | None, outcome: str | None, covariates: str | None, exclude: str | None,
                arm_labels: str | None, reference: int | None, lower_is_better: bool, design: str, unit: str) -> object:
    from medkit.core.config import validate_config
    from medkit.core.errors import ConfigError
    from medkit.treatment.table import TreatmentTable

    if not treatment or not outcome:
        raise ConfigError("--table needs --treatment and --outcome", where="medkit treatment",
                          fix="e.g. --table trial.csv --treatment arm --outcome cd4_20w")
    return validate_config(TreatmentTable, {
        "treatment": treatment, "outcome": outcome, "covariates": _csv_list(covariates),
        "exclude": _csv_list(exclude) or [], "arm_labels": _csv_list(arm_labels), "reference": reference,
        "higher_is_better": not lower_is_better, "design": design, "unit": unit}, source="command line")


def _train_table(table: Path, out: Path | None, spec: object, n_boot: int, seed: int) -> None:
    from medkit.data.tabular import read_csv
    from medkit.treatment.serving import load_predictor
    from medkit.treatment.table import train_table_bundle

    design = spec.design  # type: ignore[attr-defined]
    bundle = train_table_bundle(read_csv(table), spec, out or Path(f"{table.stem}_bundle"),  # type: ignore[arg-type]
                                name=table.stem, n_boot=n_boot, seed=seed)
    pol = load_predictor(bundle)
    typer.echo(f"Bundle: {bundle}\nArms: {pol.arm_names}; default (best overall) arm: "
               f"{pol.arm_names[pol.policy.default_arm_]}; design: {design} — "
               + ("effects are causal for trial-like patients." if design == "randomised" else
                  "effects are covariate-adjusted differences, causal only if no confounder is missing."))


@app.command()
def train(config: ConfigOpt = None, set_: SetOpt = None, data_dir: DataOpt = None, runs_dir: RunsOpt = None,
          out: Annotated[Path | None, typer.Option(help="Bundle directory (default: <run>/bundle).")] = None,
          allow_quality_warnings: QWarnOpt = False,
          table: Annotated[Path | None, typer.Option(
              "--table", help="CSV, one row per patient: fit on it instead of ACTG 175.")] = None,
          treatment: Annotated[str | None, typer.Option(help="--table: treatment column.")] = None,
          outcome: Annotated[str | None, typer.Option(help="--table: outcome column (numeric).")] = None,
          covariates: Annotated[str | None, typer.Option(
              help="--table: comma-separated covariates (default: all other numeric columns).")] = None,
          exclude: Annotated[str | None, typer.Option(help="--table: comma-separated columns to ignore.")] = None,
          arm_labels: Annotated[str | None, typer.Option(
              help="--table: text treatment labels in code order, e.g. no,yes.")] = None,
          reference: Annotated[int | None, typer.Option(help="--table: reference arm code.")] = None,
          lower_is_better: Annotated[bool, typer.Option(help="--table: lower outcomes are better.")] = False,
          design: Annotated[str, typer.Option(help="--table: randomised or observational.")] = "observational",
          unit: Annotated[str, typer.Option(help="--table: outcome unit for display.")] = "",
          n_boot: Annotated[int, typer.Option(help="--table: bootstrap replicates.")] = 30,
          seed: Annotated[int, typer.Option(help="--table: random seed.")] = 0) -> None:
    """Fit the conservative treatment policy (ACTG 175, or any --table) and write a model bundle."""
    if table is not None:
        spec = _table_spec(treatment, outcome, covariates, exclude, arm_labels, reference, lower_is_better, design,
                           unit)
        _train_table(table, out, spec, n_boot, seed)
        return
    from medkit.treatment.workflow import train_bundle

    cfg = _config(config, set_, data_dir, runs_dir)
    if allow_quality_warnings:
        cfg.allow_quality_warnings = True  # type: ignore[attr-defined]
    run, bundle = train_bundle(cfg, out)  # type: ignore[arg-type]
    typer.echo(f"Bundle: {bundle}\nRun directory: {run.path}")


@app.command()
def evaluate(config: ConfigOpt = None, set_: SetOpt = None, data_dir: DataOpt = None,
             runs_dir: RunsOpt = None, allow_quality_warnings: QWarnOpt = False,
             table: Annotated[Path | None, typer.Option(
                 "--table", help="CSV, one row per patient: cross-validate the rule on it instead.")] = None,
             treatment: Annotated[str | None, typer.Option(help="--table: treatment column.")] = None,
             outcome: Annotated[str | None, typer.Option(help="--table: outcome column (numeric).")] = None,
             covariates: Annotated[str | None, typer.Option(help="--table: comma-separated covariates.")] = None,
             exclude: Annotated[str | None, typer.Option(help="--table: comma-separated columns to ignore.")] = None,
             arm_labels: Annotated[str | None, typer.Option(help="--table: text labels in code order.")] = None,
             lower_is_better: Annotated[bool, typer.Option(help="--table: lower outcomes are better.")] = False,
             design: Annotated[str, typer.Option(help="--table: randomised or observational.")] = "observational",
             n_boot: Annotated[int, typer.Option(help="--table: bootstrap resamples for the CIs.")] = 1000,
             seed: Annotated[int, typer.Option(help="--table: random seed.")] = 0) -> None:
    """Cross-validate treatment rules on ACTG 175 and CF models on GDSC2 (report.html), or on any --table."""
    if table is not None:
        from medkit.data.tabular import read_csv
        from medkit.treatment.table_eval import evaluate_table

        spec = _table_spec(treatment, outcome, covariates, exclude, arm_labels, None, lower_is_better, design, "")
        ev = evaluate_table(read_csv(table), spec, n_boot=n_boot, seed=seed)  # type: ignore[arg-type]
        for v in ev.values:
            d = ev.vs_best.get(v.name)
            typer.echo(f"{v.name:<20} DR value {v.dr:.4g} (95% CI {v.dr_ci[0]:.4g} to {v.dr_ci[1]:.4g})"
                       + ("" if d is None else f"; vs best single arm {d.dr:+.3g} ({d.dr_ci[0]:+.3g} to "
                                               f"{d.dr_ci[1]:+.3g})"))
        typer.echo(f"{ev.n} patients, {design}; switched {ev.switched:.1%} off the best single arm; propensities "
                   f"{ev.propensity_range[0]:.3f}-{ev.propensity_range[1]:.3f} ({ev.n_clipped} clipped). "
                   + ("Personalisation adds value (CI excludes 0)." if ev.adds_value() else
                      "No evidence that personalisation beats giving everyone the best single arm."))
        return
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
                   f"over reference arm {p['reference_arm']}: {p['benefit_over_reference']:+.3g} {unit}"
                   + ("" if p["switched_from_default"] else "  [kept the best single arm: no confident benefit]"))
        for a in p["per_arm"]:
            lo, hi = a["interval"]
            typer.echo(f"  {a['name']:<9} expected {result['outcome']} {a['expected']:7.4g} (95% interval {lo:.4g}-"
                       f"{hi:.4g}); vs default {a['benefit_vs_default']:+.3g} (lower bound "
                       f"{a['benefit_vs_default_lower']:+.3g})")
        if p.get("drivers"):
            typer.echo("  drivers: " + ", ".join(f"{d['feature']} ({d['effect_on_benefit']:+.3g})" for d in p["drivers"]))
        if p.get("attributions"):
            at = p["attributions"]
            typer.echo(f"  attributions ({at['method']}, {at['explains']}): " + ", ".join(
                f"{f['feature']}={f['value']:g} ({f['contribution']:+.1f})" for f in at["top_features"][:5]))
