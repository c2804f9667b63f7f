"""``medkit drug generate|evaluate-generation|train|predict|screen`` (thin: the work lives in medkit.drug)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Molecule generation, property prediction and screening.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")]


def _read_smiles(path: Path, column: str | None = None) -> list[str]:
    from medkit.core.errors import DataError
    from medkit.data.drug_sets import read_molecule_table

    if not path.is_file():
        raise DataError(f"file not found: {path}", where=str(path), fix="check the path")
    if path.suffix.lower() in {".csv", ".gz"}:
        return read_molecule_table(path, smiles_column=column, require_targets=False, targets=[]).smiles
    # .smi / .txt: first whitespace-separated token per line (a blank line is kept so row numbers stay right)
    return [(line.split() or [""])[0] for line in path.read_text().splitlines()]


def _write_smiles(path: Path, smiles: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        pd.DataFrame({"smiles": smiles}).to_csv(path, index=False)
    else:
        path.write_text("\n".join(smiles) + "\n")


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output file (.smi one per line, or .csv).")] = Path("generated.smi"),
    n: Annotated[int, typer.Option(help="Number of molecules to sample.")] = 1000,
    model: Annotated[str, typer.Option(help="charrnn | vae | latentgan (when training).")] = "charrnn",
    generator: Annotated[Path | None, typer.Option(help="Load a saved generator folder instead of training.")] = None,
    n_train: Annotated[int, typer.Option(help="MOSES training molecules to train on.")] = 50_000,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 5,
    hidden: Annotated[int, typer.Option(help="Hidden size of the LSTM / VAE decoder.")] = 512,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (<1 sharper, >1 more diverse).")] = 1.0,
    save_generator: Annotated[Path | None, typer.Option(help="Folder to save the trained generator.")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(help="Checkpoint folder; re-running resumes.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    layers: Annotated[int, typer.Option(help="CharRNN LSTM layers.")] = 2,
    max_minutes: Annotated[float | None, typer.Option(
        help="CharRNN: wall-clock training budget (time-based LR schedule; --epochs becomes an upper bound).")] = None,
    precision: Annotated[str, typer.Option(
        help="CharRNN: fp32 | bf16 (bf16 autocast; ~4x faster on CPUs with AMX/AVX512-BF16).")] = "fp32",
) -> None:
    """Train a generator on MOSES (or load one) and sample SMILES."""
    from medkit.core.errors import ConfigError
    from medkit.core.seed import seed_everything
    from medkit.drug.generators import load_generator
    from medkit.drug.metrics import moses_sample

    seed_everything(seed)
    if generator is not None:
        gen: Any = load_generator(generator)
    else:
        from medkit.drug.charrnn import CharRNNGenerator
        from medkit.drug.latentgan import LatentGANGenerator
        from medkit.drug.vae import VAEGenerator

        classes = {"charrnn": CharRNNGenerator, "vae": VAEGenerator, "latentgan": LatentGANGenerator}
        if model not in classes:
            raise ConfigError(f"unknown generator {model!r}", where="--model", fix=f"use one of {sorted(classes)}")
        kw: dict[str, Any] = {"epochs": epochs, "seed": seed,
                              "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir else None}
        if model == "charrnn":
            # MOSES SMILES are canonical already: skip RDKit standardisation (~3 ms each) of the corpus
            kw.update(hidden=hidden, layers=layers, precision=precision, standardise=False,
                      max_seconds=None if max_minutes is None else 60 * max_minutes,
                      epoch_molecules=None if max_minutes is None else 50_000)
        elif model == "vae":
            kw["dec_hidden"] = hidden
        else:
            kw["vae_params"] = {"epochs": epochs, "dec_hidden": hidden}
        gen = classes[model](**kw).fit(moses_sample("train", n_train, seed=seed))  # random rows, not a prefix
        if save_generator is not None:
            gen.save(save_generator)
            typer.echo(f"generator saved to {save_generator}")
    smiles = gen.sample(n, temperature=temperature, seed=seed)
    _write_smiles(out, smiles)
    typer.echo(f"wrote {len(smiles)} SMILES to {out}")


@app.command("evaluate-generation")
def evaluate_generation(
    smiles_file: Annotated[Path, typer.Argument(help="Generated SMILES (.smi or .csv).")],
    n_test: Annotated[int, typer.Option(
        help="MOSES test / scaffold-test molecules used as reference (random rows, seed 0; 0 = whole split).")] = 10_000,
    n_train: Annotated[int | None, typer.Option(help="MOSES train molecules for novelty (default: all).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the metrics as JSON here.")] = None,
) -> None:
    """MOSES metrics of a generated set against MOSES test and scaffold-test."""
    from medkit.drug.metrics import evaluate_generation as _eval
    from medkit.drug.metrics import moses_sample, reference_stats

    gen = _read_smiles(smiles_file)
    train = set(moses_sample("train", n_train))
    test = reference_stats(moses_sample("test", n_test or None))
    testsf = reference_stats(moses_sample("test_scaffolds", n_test or None))
    m = _eval(gen, train=train, test=test, test_scaffolds=testsf)
    for row in m.table():
        typer.echo(f"{row['metric']:<14} {row['value']:.4f}")
    if out is not None:
        out.write_text(json.dumps(m.as_dict(), indent=2))


@app.command()
def train(
    dataset: Annotated[str | None, typer.Option(help="Registered dataset (esol, bbbp, tox21, ...).")] = "esol",
    csv: Annotated[Path | None, typer.Option(help="Your own CSV instead of a registered dataset.")] = None,
    smiles_column: Annotated[str | None, typer.Option(help="SMILES column of the CSV.")] = None,
    target: Annotated[list[str] | None, typer.Option(help="Label column(s) (repeatable).")] = None,
    task_type: Annotated[str | None, typer.Option(help="regression | classification (default: inferred).")] = None,
    model: Annotated[str, typer.Option(help="dmpnn | rf | gbm.")] = "dmpnn",
    split: Annotated[str, typer.Option(help="scaffold | random.")] = "scaffold",
    epochs: Annotated[int, typer.Option(help="D-MPNN epochs.")] = 50,
    ensemble_size: Annotated[int, typer.Option(help="D-MPNN ensemble members (uncertainty).")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    duplicates: Annotated[str, typer.Option(help="merge (mean / majority of repeated molecules, counted) | refuse.")
                          ] = "merge",
    allow_quality_warnings: Annotated[bool, typer.Option(help="Train despite data-quality warnings.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Train a property predictor behind a data-quality gate; writes a run directory (quality report, model card,
    TRIPOD+AI checklist, report.html) and a model bundle."""
    from medkit.drug.workflow import PropertyRunConfig, train_property_model

    cfg = PropertyRunConfig.model_validate({
        "dataset": None if csv else dataset, "csv": csv, "smiles_column": smiles_column, "targets": target,
        "task_type": task_type, "model": model, "split": split, "epochs": epochs, "ensemble_size": ensemble_size,
        "seed": seed, "runs_dir": runs_dir, "data_dir": data_dir, "duplicates": duplicates,
        "allow_quality_warnings": allow_quality_warnings, "name": f"drug-{model}-{dataset or 'csv'}"})
    run, bundle, metrics = train_property_model(cfg)
    q = metrics["quality"]
    typer.echo(f"{metrics['input']}\nquality: {q['n_errors']} errors, {q['n_warnings']} warnings "
               f"(duplicates merged: {metrics['duplicates'].get('rows_merged', 0)})\ntest ({metrics['split']}): {metrics['test']['mean']}\nrun: {run.path}\n"
               f"bundle: {bundle}\nreport: {run.path / 'report.html'}  model card: {run.path / 'model_card.html'}")


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `medkit drug train`.")],
    smiles: Annotated[list[str] | None, typer.Option(help="SMILES to predict (repeatable).")] = None,
    input_file: Annotated[Path | None, typer.Option("--input", help=".smi or .csv file of SMILES.")] = None,
    smiles_column: Annotated[str | None, typer.Option(help="SMILES column of the CSV.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write predictions (CSV) here.")] = None,
    explain: Annotated[bool, typer.Option(help="Add medkit.interpret.explain output + per-atom weights (JSON output only).")] = False,
) -> None:
    """Predict properties (with uncertainty) for SMILES; invalid rows are reported, the rest still predicted."""
    from medkit.core.errors import ConfigError
    from medkit.drug.serving import load_predictor

    items = list(smiles or []) + (_read_smiles(input_file, smiles_column) if input_file else [])
    if not items:
        raise ConfigError("no SMILES given", where="predict", fix="pass --smiles CCO or --input file.smi")
    res = load_predictor(bundle).predict(items, explain=explain)
    if out is None:
        typer.echo(json.dumps(res, indent=1))
        return
    import pandas as pd

    rows = [{"index": r["index"], "smiles": r["smiles"], "valid": r["valid"], "reason": r["reason"],
             **{t: r.get("values", {}).get(t) for t in res["tasks"]},
             **{f"{t}_sd": r.get("sd", {}).get(t) for t in res["tasks"]}} for r in res["predictions"]]
    pd.DataFrame(rows).to_csv(out, index=False)
    typer.echo(f"wrote {len(rows)} rows ({res['n_invalid']} invalid, with reasons) to {out}")


@app.command()
def screen(
    candidates: Annotated[Path, typer.Argument(help="Candidate SMILES (.smi or .csv).")],
    bundle: Annotated[list[str] | None, typer.Option(help="NAME=BUNDLE_DIR predictor (repeatable).")] = None,
    objective: Annotated[list[str] | None, typer.Option(help="NAME:+1|-1[:weight] ranking objective.")] = None,
    train_ref: Annotated[Path | None, typer.Option(help="Training SMILES for novelty (default: MOSES train).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder (screen.csv, report.html).")] = Path("screen-output"),
    max_sa: Annotated[float, typer.Option(help="Maximum SA score.")] = 6.0,
    keep_brenk: Annotated[bool, typer.Option(help="Flag but keep Brenk alerts.")] = False,
) -> None:
    """Run the screening funnel and write a ranked table and an HTML report."""
    from medkit.core.errors import ConfigError
    from medkit.data import load_dataset
    from medkit.drug.funnel import FunnelConfig, Objective, run_funnel
    from medkit.drug.report import write_screen_report
    from medkit.drug.serving import load_predictor

    preds: dict[str, Any] = {}
    for b in bundle or []:
        if "=" not in b:
            raise ConfigError(f"--bundle needs NAME=DIR, got {b!r}", where="--bundle", fix="e.g. --bundle sol=runs/x/bundle")
        name, path = b.split("=", 1)
        preds[name] = load_predictor(path).model
    objs = []
    for o in objective or []:
        parts = o.split(":")
        try:
            objs.append(Objective(name=parts[0], direction=int(parts[1]) if len(parts) > 1 else 1,
                                  weight=float(parts[2]) if len(parts) > 2 else 1.0))
        except ValueError:
            raise ConfigError(f"bad objective {o!r}", where="--objective", fix="use NAME:+1 or NAME:-1:0.5") from None
    train = _read_smiles(train_ref) if train_ref else load_dataset("moses", split="train").data
    res = run_funnel(_read_smiles(candidates), train_smiles=train, predictors=preds, objectives=objs or None,
                     config=FunnelConfig(max_sa=max_sa, remove_brenk=not keep_brenk))
    out.mkdir(parents=True, exist_ok=True)
    res.table.sort_values("rank").to_csv(out / "screen.csv", index=False)
    rep = write_screen_report(out / "report.html", res, title=f"Screen of {candidates.name}")
    for c in res.counts():
        typer.echo(f"{c['stage']:<14} {c['in']:>7} → {c['out']:>7}  {c['reasons']}")
    typer.echo(f"report: {rep}")
