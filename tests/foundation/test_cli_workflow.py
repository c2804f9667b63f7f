"""The CLI and the foundation's WDBC workflow end to end on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MEDKIT = [sys.executable, "-m", "medkit.cli.main"]


def _medkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MEDKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_version_and_help() -> None:
    from medkit import __version__

    r = _medkit("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    assert _medkit("datasets", "--help").returncode == 0


def test_import_medkit_is_light() -> None:
    code = "import sys, medkit, medkit.core.config, medkit.core.runs, medkit.data; " \
           "print(any(m in sys.modules for m in ('torch', 'rdkit', 'monai')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "False"


def test_missing_dependency_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from medkit.core.deps import require
    from medkit.core.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match=r"medkit\[imaging\]"):
        require("definitely_not_installed_pkg", "imaging")


def test_datasets_info_cli() -> None:
    r = _medkit("datasets", "info", "whas500")
    assert r.returncode == 0
    assert "rows: 500" in r.stdout and "sha256 " in r.stdout and "Hosmer" in r.stdout


def test_errors_are_one_line_with_nonzero_exit(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nkindd = 'gbm'\n")
    r = _medkit("run", str(cfg))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "model.kindd" in r.stderr and "Traceback" not in r.stderr
    r = _medkit("datasets", "info", "nope")
    assert r.returncode == 2 and "unknown dataset 'nope'" in r.stderr
    r = _medkit("datasets", "info", "wdbc", "--data-dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_run_config_wdbc_end_to_end(tmp_path: Path) -> None:
    cfg = tmp_path / "wdbc.toml"
    cfg.write_text(f'name = "wdbc-cli"\nruns_dir = "{tmp_path / "runs"}"\n[evaluation]\nn_boot = 200\n')
    r = _medkit("run", str(cfg), "--set", "model.kind=logistic")
    assert r.returncode == 0, r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    auroc = metrics["pooled_out_of_fold"]["auroc"]
    # Done-when of the foundation issue: AUROC >= 0.99 under 5-fold CV, reported with a CI.
    assert auroc["value"] >= 0.99 and auroc["ci_low"] < auroc["value"] < auroc["ci_high"]
    assert len(metrics["folds"]) == 5
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    for caption in ("ROC curves", "Reliability diagram", "Confusion matrix"):
        assert caption in html
    for f in ("config.json", "datasets.json", "run.json", "model.joblib", "plots/roc.png"):
        assert (run_dir / f).exists(), f
    ds = json.loads((run_dir / "datasets.json").read_text())[0]
    assert ds["name"] == "wdbc" and len(ds["sha256"]["breast_cancer.csv"]) == 64
    r = _medkit("runs", "show", str(run_dir))
    assert r.returncode == 0 and "pooled_out_of_fold" in r.stdout
    r = _medkit("runs", "list", "--root", str(tmp_path / "runs"))
    assert str(run_dir) in r.stdout


def test_run_config_from_csv_with_garbage(tmp_path: Path) -> None:
    from medkit.data import load_dataset

    df = load_dataset("wdbc").data
    df["mean radius"] = df["mean radius"].astype(object)
    df.loc[10, "mean radius"] = "n/a?"
    csv = tmp_path / "cohort.csv"
    df.to_csv(csv, index=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'runs_dir = "{tmp_path / "runs"}"\n[data]\ncsv = "{csv}"\nlabel = "malignant"\n'
                   f'id_column = "patient_id"\n')
    r = _medkit("run", str(cfg))
    assert r.returncode == 2 and "row 12" in r.stderr and "mean radius" in r.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_run_refuses_leaky_data_and_keeps_quality_report(tmp_path: Path) -> None:
    from medkit.data import load_dataset

    df = load_dataset("wdbc").data
    df["biopsy_result"] = df["malignant"]  # a planted label leak
    csv = tmp_path / "leaky.csv"
    df.to_csv(csv, index=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'runs_dir = "{tmp_path / "runs"}"\n[data]\ncsv = "{csv}"\nlabel = "malignant"\n'
                   f'id_column = "patient_id"\n[evaluation]\nn_boot = 50\n')
    r = _medkit("run", str(cfg))
    assert r.returncode == 2 and "biopsy_result" in r.stderr, r.stderr
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert (run_dir / "quality.html").exists() and not (run_dir / "model.joblib").exists()


def test_trust_artefacts_in_run(tmp_path: Path) -> None:
    from medkit.workflows.tabular import EvalConfig, TabularRunConfig, run_tabular

    run, _ = run_tabular(TabularRunConfig(name="t", runs_dir=tmp_path, evaluation=EvalConfig(n_boot=50)))
    for f in ("quality.html", "quality.json", "model_card.md", "model_card.html", "trust.json"):
        assert (run.path / f).exists(), f
    assert "Model card" in (run.path / "report.html").read_text()
