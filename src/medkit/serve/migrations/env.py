"""Alembic environment for medkit serve. Run programmatically by ``medkit.serve.migrate.upgrade``, which passes
an open connection in ``config.attributes["connection"]``; a URL in the config is the fallback."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from medkit.serve.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=connection.dialect.name == "sqlite")  # type: ignore[attr-defined]
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - only with the alembic command line
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
