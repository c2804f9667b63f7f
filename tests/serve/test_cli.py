"""``medkit models`` and ``medkit serve`` from the command line, and the demo hint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medkit.serve import demo_hint

ROOT = Path(__file__).resolve().parents[2]


def test_models_register_list_promote(tmp_path: Path, clinical_bundle: Path) -> None:
    from medkit.cli.models import app

    run = tmp_path / "runs" / "20260101-000000-wdbc"
    shutil.copytree(clinical_bundle, run / "bundle")
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    r = runner.invoke(app, ["register", str(run), "--name", "wdbc-risk", *home])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("wdbc-risk v1 (staging)")
    r = runner.invoke(app, ["promote", "wdbc-risk", "1", *home])
    assert r.exit_code == 0 and "v1 -> production" in r.output
    r = runner.invoke(app, ["list", *home])
    assert "wdbc-risk" in r.output and "v1 production" in r.output and "clinical" in r.output
    r = runner.invoke(app, ["promote", "wdbc-risk", "5", *home])
    assert r.exit_code != 0 and "has no version 5" in str(r.exception)


def _medkit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medkit.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)


def test_serve_refuses_to_start_without_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MEDKIT_SECRET_KEY", "MEDKIT_DATABASE_URL")}
    r = _medkit(["serve", "--home", str(tmp_path), "--port", "1"], env)
    assert r.returncode == 2
    assert "refusing to start: the secret key is missing" in r.stderr and "MEDKIT_SECRET_KEY" in r.stderr
    r = _medkit(["serve", "--home", str(tmp_path), "--port", "1"], {**env, "MEDKIT_SECRET_KEY": "changeme"})
    assert r.returncode == 2 and "a known default" in r.stderr


def test_serve_adduser(tmp_path: Path) -> None:
    from medkit.cli.serve import app

    r = CliRunner().invoke(app, ["adduser", "dr.who", "--role", "clinician", "--home", str(tmp_path)],
                           env={"MEDKIT_NEW_PASSWORD": "a-long-password"})
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["adduser", "dr.who", "--home", str(tmp_path)],
                           env={"MEDKIT_NEW_PASSWORD": "a-long-password"})
    assert r.exit_code != 0 and "already exists" in str(r.exception)


def test_serve_reset_password(tmp_path: Path) -> None:
    from medkit.cli.serve import app
    from medkit.serve.security import authenticate
    from medkit.serve.settings import ServeSettings
    from medkit.serve.store import Store

    env = {"MEDKIT_NEW_PASSWORD": "a-long-password"}
    assert CliRunner().invoke(app, ["adduser", "boss", "--role", "admin", "--home", str(tmp_path)], env=env).exit_code == 0
    r = CliRunner().invoke(app, ["reset-password", "boss", "--home", str(tmp_path)])
    assert r.exit_code == 0, r.output
    temporary = r.output.split("temporary password for 'boss': ")[1].split()[0]
    store = Store.open(ServeSettings(home=tmp_path))
    with store.sf.begin() as db:
        assert authenticate(db, "boss", "a-long-password") is None
        user = authenticate(db, "boss", temporary)
        assert user is not None and user.must_change_password
    store.close()
    r = CliRunner().invoke(app, ["reset-password", "nobody", "--home", str(tmp_path)])
    assert r.exit_code != 0 and "no user named" in str(r.exception)


def test_demo_hint(tmp_path: Path, clinical_bundle: Path) -> None:
    assert "No model bundles" in demo_hint(tmp_path)
    shutil.copytree(clinical_bundle, tmp_path / "clinical" / "bundle")
    hint = demo_hint(tmp_path)
    assert f"medkit serve --dev --models-from {tmp_path}" in hint and "1 model(s)" in hint


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_workers_keep_one_audit_chain(tmp_path: Path, db: str, request: pytest.FixtureRequest) -> None:
    import signal
    import socket
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from medkit.serve.loadgen import wait_ready

    from .pg import create_database

    env = {**os.environ, "MEDKIT_SECRET_KEY": "w" * 40, "MEDKIT_NEW_PASSWORD": "admin-password-1"}
    env.pop("MEDKIT_DATABASE_URL", None)
    if db == "postgresql":  # SQLite: the default file under --home
        env["MEDKIT_DATABASE_URL"] = create_database(*request.getfixturevalue("pg_server"), "medkit_workers")
    assert _medkit(["serve", "adduser", "admin", "--role", "admin", "--home", str(tmp_path)], env).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "medkit.cli.main", "serve", "--workers", "2", "--port", str(port),
                             "--home", str(tmp_path)], env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        body = {"username": "admin", "password": "admin-password-1"}

        def login(_: int) -> int:
            return httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(login, range(8)))
        assert codes == [200] * 8
        tok = httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=30).json()["token"]
        page = httpx.get(f"{base}/api/v1/audit", headers={"Authorization": f"Bearer {tok}"}, timeout=30).json()
        assert page["chain_ok"] is True
        assert sum(e["action"] == "login.token" for e in page["events"]) == 9
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
