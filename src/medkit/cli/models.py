"""``medkit models``: the model registry used by ``medkit serve`` (register, list, promote)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Model registry: register run bundles as versions and move them between stages.",
                  no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db-url", help="SQLAlchemy URL (default $MEDKIT_DATABASE_URL, else SQLite "
                                                            "under --home).")]
HomeOpt = Annotated[Path | None, typer.Option(help="Registry folder (default $MEDKIT_SERVE_HOME or ~/.medkit/serve).")]


def _store(db_url: str | None, home: Path | None) -> object:
    from medkit.serve.settings import ServeSettings
    from medkit.serve.store import Store

    return Store.open(ServeSettings.from_env(database_url=db_url, home=home))


@app.command()
def register(
    run: Annotated[Path, typer.Argument(help="Run directory (or bundle directory) holding a bundle.json.")],
    name: Annotated[str, typer.Option("--name", help="Registry name, e.g. wdbc-risk.")],
    stage: Annotated[str, typer.Option(help="staging, production or archived.")] = "staging",
    db_url: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Register the run's model bundle as the next version of NAME (same content twice: same version)."""
    from medkit.serve.registry import register as _register
    from medkit.serve.store import cli_actor

    store = _store(db_url, home)
    try:
        mv = _register(store.sf, store.home, run, name, actor=cli_actor(), stage=stage)  # type: ignore[attr-defined]
    finally:
        store.close()  # type: ignore[attr-defined]
    typer.echo(f"{name} v{mv.version} ({mv.stage}) sha256 {mv.bundle_sha256[:12]}")


@app.command("list")
def list_(db_url: DbOpt = None, home: HomeOpt = None) -> None:
    """List registered models and their versions."""
    from medkit.serve.registry import list_models

    store = _store(db_url, home)
    try:
        with store.sf() as db:  # type: ignore[attr-defined]
            models = list_models(db)
    finally:
        store.close()  # type: ignore[attr-defined]
    if not models:
        typer.echo("no models registered; use `medkit models register RUN --name NAME`")
    for m in models:
        versions = ", ".join(f"v{v['version']} {v['stage']}" for v in m["versions"])
        typer.echo(f"{m['name']:<32} {m['pillar']:<10} {m['kind']:<20} {versions}")


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version number.")],
    stage: Annotated[str, typer.Option(help="staging, production or archived.")] = "production",
    db_url: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Move VERSION of NAME to a stage (production archives the previous production version)."""
    from medkit.serve.registry import set_stage
    from medkit.serve.store import cli_actor

    store = _store(db_url, home)
    try:
        mv = set_stage(store.sf, name, version, stage, actor=cli_actor())  # type: ignore[attr-defined]
    finally:
        store.close()  # type: ignore[attr-defined]
    typer.echo(f"{name} v{mv.version} -> {mv.stage}")
