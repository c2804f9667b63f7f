"""Fixtures for the serving tests: real model bundles, a throwaway PostgreSQL, apps with users and models."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .fixtures import bundles as fx
from .pg import create_database, pg_cluster

SECRET = "test-" + "k" * 40
PASSWORDS = {"admin": "admin-password-1", "clinician": "clinician-password-1", "researcher": "researcher-password-1"}
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def bundle_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def clinical_bundle(bundle_root: Path) -> Path:
    return fx.build_clinical(bundle_root / "clinical" / "bundle")


@pytest.fixture(scope="session")
def imaging_bundle(bundle_root: Path) -> Path:
    return fx.build_imaging(bundle_root / "imaging" / "bundle")


@pytest.fixture(scope="session")
def treatment_bundle(bundle_root: Path) -> Path:
    return fx.build_treatment(bundle_root / "treatment" / "bundle")


@pytest.fixture(scope="session")
def drug_bundle(bundle_root: Path, shared_data: Path) -> Path:
    return fx.build_drug(bundle_root / "drug" / "bundle", shared_data)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, int]]:
    try:
        with pg_cluster() as (host, port, _bindir):
            yield host, port
    except FileNotFoundError as exc:
        pytest.skip(f"PostgreSQL not installed ({exc}); run scripts/system-deps.sh")
    except Exception as exc:  # noqa: BLE001 - a cluster that cannot start is an environment problem
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc!r}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs against a fresh SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'medkit.db'}"
    host, port = request.getfixturevalue("pg_server")
    return create_database(host, port, f"medkit_test_{next(_db_counter)}_{secrets.token_hex(3)}")


def make_settings(home: Path, **kw: Any) -> Any:
    from medkit.serve.settings import ServeSettings

    base: dict[str, Any] = {"home": home, "secret_key": SECRET, "cookie_secure": False, "rate_per_s": 1000.0,
                            "burst": 1000}
    base.update(kw)
    return ServeSettings(**base)


@dataclass
class Env:
    """A running app (TestClient) with one user per role, their API tokens and registered models."""

    client: Any
    app: Any
    svc: Any
    tokens: dict[str, str]

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def start_env(home: Path, bundles: dict[str, Path], **kw: Any) -> Iterator[Env]:
    from fastapi.testclient import TestClient

    from medkit.serve import create_app
    from medkit.serve.audit import Actor
    from medkit.serve.registry import register, set_stage
    from medkit.serve.security import create_user, issue_token

    app = create_app(make_settings(home, **kw), loaders=fx.LOADERS)
    svc = app.state.service
    tokens = {}
    with svc.sf.begin() as db:
        for role, pw in PASSWORDS.items():
            tokens[role] = issue_token(db, create_user(db, role, pw, role), days=1)
    for name, path in bundles.items():
        mv = register(svc.sf, svc.settings.home, path, name, actor=Actor("setup", "admin"))
        set_stage(svc.sf, name, mv.version, "production", actor=Actor("setup", "admin"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Env(client, app, svc, tokens)


@pytest.fixture
def env(tmp_path: Path, clinical_bundle: Path) -> Iterator[Env]:
    yield from start_env(tmp_path / "home", {"wdbc-risk": clinical_bundle})
