"""Open the registry database without starting the web service (for ``medkit models`` and admin commands)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from medkit.serve.audit import Actor
from medkit.serve.db import create_engine, session_factory
from medkit.serve.migrate import upgrade
from medkit.serve.settings import ServeSettings


@dataclass
class Store:
    engine: Engine
    sf: sessionmaker
    home: Path

    @classmethod
    def open(cls, settings: ServeSettings) -> Store:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.db_url)
        upgrade(engine)
        return cls(engine, session_factory(engine), settings.home)

    def close(self) -> None:
        self.engine.dispose()


def cli_actor() -> Actor:
    """Who ran a command-line change: the operating-system account, marked as such in the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"cli:{user}"[:64], "admin")
