"""``medkit serve``: run the web service and UI; ``medkit serve adduser`` manages accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Run the web service and UI (FastAPI + uvicorn).", no_args_is_help=False)

HostOpt = Annotated[str, typer.Option(help="Interface to listen on; keep 127.0.0.1 behind a reverse proxy.")]
DbOpt = Annotated[str | None, typer.Option("--db-url", help="SQLAlchemy URL (default $MEDKIT_DATABASE_URL, else SQLite "
                                                            "under --home).")]
HomeOpt = Annotated[Path | None, typer.Option(help="Folder for the model store, uploads and the SQLite database "
                                                   "(default $MEDKIT_SERVE_HOME or ~/.medkit/serve).")]


def _settings(db_url: str | None, home: Path | None, **kw: object) -> object:
    from medkit.serve.settings import ServeSettings

    return ServeSettings.from_env(database_url=db_url, home=home, **kw)


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    dev: Annotated[bool, typer.Option("--dev", help="Local trial: random secret if none is set, plain-HTTP cookies, "
                                                    "an 'admin' account with a printed password.")] = False,
    db_url: DbOpt = None,
    home: HomeOpt = None,
    models_from: Annotated[Path | None, typer.Option("--models-from", help="Register every bundle under this folder "
                                                                           "first (e.g. the demo output).")] = None,
    max_upload_mb: Annotated[float, typer.Option(min=0.1, help="Largest accepted upload in MB.")] = 20.0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (they share the database; the audit chain is locked across them).")] = 1,
) -> None:
    """Start the service: API under /api/v1 (docs at /api/v1/docs) and the web UI at /."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from medkit.serve.app import create_app
    from medkit.serve.registry import register_tree
    from medkit.serve.store import cli_actor

    settings = _settings(db_url, home, dev=dev, max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    application = create_app(settings)  # type: ignore[arg-type]
    svc = application.state.service
    if models_from is not None:
        for mv in register_tree(svc.sf, svc.settings.home, models_from, actor=cli_actor()):
            typer.echo(f"registered {Path(mv.bundle_dir).parent.name} v{mv.version} ({mv.stage})")
    if dev:
        password = svc.ensure_dev_admin()
        if password:
            # Printed to the terminal once, never logged.
            typer.secho(f"dev mode: created user 'admin' with password: {password}", fg="yellow")
        typer.secho("dev mode: do not use for real patients (random secret, cookies without Secure).", fg="yellow")
    typer.echo(f"medkit serve on http://{host}:{port}  (database: {svc.engine.dialect.name}, workers: {workers})")
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
        return
    import os

    from medkit.serve.app import SETTINGS_ENV

    # Workers share the parent's checked settings (the same secret, so sessions work on every worker).
    os.environ[SETTINGS_ENV] = svc.settings.model_dump_json()
    svc.close()
    uvicorn.run("medkit.serve.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                log_level="warning", access_log=False)


@app.command("adduser")
def adduser(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="admin, clinician or researcher.")] = "clinician",
    db_url: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Create a user; the password is asked twice (or read from $MEDKIT_NEW_PASSWORD)."""
    import os

    from medkit.serve import audit
    from medkit.serve.security import create_user
    from medkit.serve.store import Store, cli_actor

    password = os.environ.get("MEDKIT_NEW_PASSWORD") or typer.prompt("Password", hide_input=True,
                                                                     confirmation_prompt=True)
    store = Store.open(_settings(db_url, home))  # type: ignore[arg-type]
    try:
        with store.sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            user = create_user(db, username, password, role)
            audit.record(db, cli_actor(), "user.create", detail=f"user={user.username} role={user.role}")
    finally:
        store.close()
    typer.echo(f"created {role} '{username}'")


@app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="User name.")],
    db_url: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Give a user a random temporary password (printed once); their sessions and API tokens end, and they must
    choose a new password at the next sign-in. For a locked-out administrator; otherwise use the Users page."""
    from medkit.serve import accounts, audit
    from medkit.serve.security import Principal
    from medkit.serve.store import Store, cli_actor

    store = Store.open(_settings(db_url, home))  # type: ignore[arg-type]
    actor = cli_actor()
    try:
        with store.sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            temporary = accounts.reset_password(db, Principal(0, actor.username, actor.role, "cli"), username)
    finally:
        store.close()
    # Printed to the terminal once, never logged.
    typer.echo(f"temporary password for '{username}': {temporary}")
    typer.echo("they must choose a new password at the next sign-in (web: /account; API: POST /api/v1/auth/password)")
