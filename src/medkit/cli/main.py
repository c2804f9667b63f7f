"""``medkit`` entry point: global options, error handling and sub-apps.

Any :class:`MedkitError` becomes a one-line message on stderr and exit code 2
(no traceback unless ``--debug``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from medkit import __version__
from medkit.core.errors import MedkitError

app = typer.Typer(name="medkit", help="medkit: build, validate and deploy clinical AI on real data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

_STATE = {"debug": False}

# (sub-command name, module under medkit.cli, help). Each module defines `app`.
_SUBAPPS = [
    ("datasets", "datasets", "List and describe registered datasets."),
    ("runs", "runs", "List and show run directories."),
    ("clinical", "clinical", "Clinical diagnosis, ICU risk and survival models."),
    ("drug", "drug", "Molecule generation, property prediction and screening."),
    ("imaging", "imaging", "Medical image classification and segmentation."),
    ("treatment", "treatment", "Personalised treatment recommendation."),
    ("privacy", "privacy", "De-identification and k-anonymity."),
    ("federated", "federated", "Federated training across sites."),
    ("quality", "quality", "Data-quality checks."),
    ("models", "models", "Model registry."),
    ("serve", "serve", "Run the web service and UI."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")] = None,
) -> None:
    _STATE["debug"] = debug


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for run directories and the report index.")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these workflows (repeatable).")] = None,
) -> None:
    """Run every workflow on embedded real data and write an HTML report index."""
    from medkit.cli.demo import run_all

    index = run_all(out, seed=seed, data_dir=data_dir, only=only)
    typer.echo(f"\nReport: {index.resolve()}")
    from medkit.serve import demo_hint

    typer.echo(demo_hint(out))


@app.command("run")
def run_config(
    config: Annotated[Path, typer.Argument(help="TOML config file.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: --set model.kind=gbm")] = None,
) -> None:
    """Run a config-driven tabular workflow (see docs/config.md)."""
    from medkit.core.config import load_config
    from medkit.workflows.tabular import TabularRunConfig, run_tabular

    cfg = load_config(config, TabularRunConfig, set_ or [])
    run, metrics = run_tabular(cfg)
    auroc = metrics["pooled_out_of_fold"]["auroc"]  # type: ignore[index]
    typer.echo(f"AUROC {auroc['value']:.3f} (95% CI {auroc['ci_low']:.3f}-{auroc['ci_high']:.3f})")
    typer.echo(f"Run directory: {run.path}")


def _add_subapps() -> None:
    for name, module, help_ in _SUBAPPS:
        try:
            mod = importlib.import_module(f"medkit.cli.{module}")
        except ImportError:  # a sub-app whose module is not written yet
            continue
        sub = getattr(mod, "app", None)
        if sub is not None:
            app.add_typer(sub, name=name, help=help_)


_add_subapps()


def main() -> None:
    """Console-script entry: run the app, turning MedkitError into a one-line message."""
    debug = "--debug" in sys.argv
    try:
        app(standalone_mode=False)
    except MedkitError as exc:
        if debug:
            raise
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
