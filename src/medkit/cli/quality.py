"""``medkit quality check DATASET|FILE``: data-quality report as HTML (and JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Data-quality checks and model cards.")


@app.command()
def check(
    target: Annotated[str, typer.Argument(help="Registered dataset name (see `medkit datasets list`) or a CSV file.")],
    out: Annotated[Path | None, typer.Option(help="HTML report path (default: quality-<name>.html).")] = None,
    label: Annotated[str | None, typer.Option(help="Label column (CSV input).")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Patient-id column (CSV input).")] = None,
    split_column: Annotated[str | None, typer.Option("--split-column",
                                                     help="Column naming each row's split (train/test/...).")] = None,
    task: Annotated[str, typer.Option(help="binary, multiclass, regression or none (CSV input).")] = "binary",
    schema: Annotated[str | None, typer.Option(help="Declared schema name to validate a CSV against.")] = None,
    against: Annotated[str | None, typer.Option(help="Second dataset to compare as another split.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")] = None,
    strict: Annotated[bool, typer.Option(help="Exit non-zero on errors (and on warnings unless "
                                                 "--allow-quality-warnings).")] = False,
    allow_quality_warnings: Annotated[bool, typer.Option("--allow-quality-warnings",
                                                         help="With --strict: let warnings pass.")] = False,
) -> None:
    """Check a dataset or CSV file and write an HTML quality report."""
    from medkit.quality import SCHEMAS, check_dataset, check_file, gate

    path = Path(target)
    if path.suffix.lower() in {".csv", ".gz"} or path.is_file():
        rep = check_file(path, label=label, id_column=id_column, task=task,
                         schema=SCHEMAS.get(schema) if schema else None, split_column=split_column)
        name = path.stem
    else:
        rep = check_dataset(target, data_dir=data_dir, against=against)
        name = target if against is None else f"{target}-vs-{against}"
    html = out or Path(f"quality-{name}.html")
    rep.write_html(html)
    rep.write_json(html.with_suffix(".json"))
    s = rep.summary()
    typer.echo(f"{rep.source}: {s['n_errors']} error(s), {s['n_warnings']} warning(s), {s['n_info']} info")
    for f in rep.sorted_findings():
        if f.severity != "info":
            typer.echo(f"  {f.severity.upper():7s} {f.check}: {f.message} ({f.where})")
    typer.echo(f"Report: {html.resolve()}")
    if strict:
        gate(rep, allow_warnings=allow_quality_warnings)


@app.command("model-card")
def model_card(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (see `medkit runs list`).")],
) -> None:
    """(Re)write model_card.md/.html and the TRIPOD+AI checklist of a run from what the run directory holds.

    Put the author's answers (intended use, ethics approval, ...) in RUN_DIR/model_card_info.json first.
    """
    import json

    from medkit.reporting.model_card import write_model_card

    paths = write_model_card(run_dir)

    items = json.loads(paths.tripod_json.read_text())
    counts = {s: sum(i["status"] == s for i in items) for s in ("done", "not applicable", "needs author input")}
    typer.echo(f"TRIPOD+AI: {counts['done']} done, {counts['not applicable']} not applicable, "
               f"{counts['needs author input']} need author input")
    typer.echo(f"Model card: {paths.html.resolve()}")
