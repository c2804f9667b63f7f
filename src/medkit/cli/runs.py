"""``medkit runs list|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(root: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs")) -> None:
    """List run directories, newest first."""
    from medkit.core.runs import list_runs

    runs = list_runs(root)
    if not runs:
        typer.echo(f"no runs under {root}")
    for r in runs:
        typer.echo(f"{r.path}")


@app.command()
def show(path: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Show a run's config, datasets and headline metrics."""
    from medkit.core.runs import RunDir, dumps

    run = RunDir.open(path)
    for rel in ("run.json", "config.json", "datasets.json", "metrics.json"):
        p = run.path / rel
        if p.exists():
            typer.echo(f"--- {rel}")
            data = run.read_json(rel)
            text = dumps(data)
            typer.echo(text if len(text) < 4000 else text[:4000] + "\n...")
    if (run.path / "report.html").exists():
        typer.echo(f"report: {run.path / 'report.html'}")
