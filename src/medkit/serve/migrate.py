"""Run the Alembic migrations programmatically (at server start and in ``medkit models``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from medkit.core.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (idempotent)."""
    from alembic import command

    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
            command.upgrade(cfg, revision)  # type: ignore[arg-type]
    except OperationalError as exc:
        raise ConfigError(f"cannot reach the database to migrate it ({type(exc.orig).__name__})",
                          where=engine.url.render_as_string(hide_password=True),
                          fix="check MEDKIT_DATABASE_URL and that the database server is running") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
