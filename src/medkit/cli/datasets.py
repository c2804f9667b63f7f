"""``medkit datasets list|info NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List every registered dataset with its task and source."""
    from rich.console import Console
    from rich.table import Table

    from medkit.data.registry import all_datasets

    t = Table("name", "task", "pillar", "source", "licence")
    for info in all_datasets():
        t.add_row(info.name, info.task, info.pillar, info.source, info.licence[:40])
    Console().print(t)


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="Dataset name (see `medkit datasets list`).")],
    load: Annotated[bool, typer.Option(help="Load it to report counts and checksums.")] = True,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")] = None,
) -> None:
    """Describe a dataset: provenance, licence, citation, counts and sha256."""
    from medkit.data import dataset_info, load_dataset

    i = dataset_info(name)
    typer.echo(f"{i.name}  ({i.task}, {i.pillar})\n{i.description}\nsource:   {i.source}\nlicence:  {i.licence}\n"
               f"citation: {i.citation}")
    if load:
        ds = load_dataset(name, data_dir=data_dir)
        typer.echo(f"rows: {ds.n_rows}  patients: {ds.n_patients}")
        sums = ds.checksums
        for fname, digest in list(sums.items())[:10]:
            typer.echo(f"sha256 {digest}  {fname}")
        if len(sums) > 10:
            typer.echo(f"... and {len(sums) - 10} more files")
