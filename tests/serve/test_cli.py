"""``medkit models`` and ``medkit serve`` from the command line, and the demo hint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_demo_hint(tmp_path: Path, clinical_bundle: Path) -> None:
    assert "No model bundles" in demo_hint(tmp_path)
    shutil.copytree(clinical_bundle, tmp_path / "clinical" / "bundle")
    hint = demo_hint(tmp_path)
    assert f"medkit serve --dev --models-from {tmp_path}" in hint and "1 model(s)" in hint
