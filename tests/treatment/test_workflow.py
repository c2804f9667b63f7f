"""Workflow smoke-and-result test on ACTG 175 (reduced settings; GDSC2 part disabled)."""

from __future__ import annotations

from pathlib import Path

from medkit.core.bundle import load_bundle_info
from medkit.treatment.workflow import ActgConfig, CFConfig, TreatmentRunConfig, headline, run_treatment


def test_run_treatment_reduced(tmp_path: Path) -> None:
    cfg = TreatmentRunConfig(runs_dir=tmp_path, actg=ActgConfig(learners=["t-learner"], base="ridge", n_splits=3,
                                                              n_boot=50, policy_n_boot=10),
                             cf=CFConfig(enabled=False))
    run, m = run_treatment(cfg)
    a = m["actg175"]
    # ZDV+ddI (arm 1) has the highest mean CD4 at 20 weeks (403 vs 336-374): best single arm in every fold
    assert a["policy_values"]["best-single-arm"]["dr"] > a["policy_values"]["random-arm"]["dr"]
    lo, hi = a["vs_random"]["best-single-arm"]["dr_ci"]
    assert lo > 0  # giving everyone the best arm beats random assignment, confidently
    assert (run.path / "report.html").stat().st_size > 10_000
    assert load_bundle_info(run.path / "bundle").pillar == "treatment"
    for f in ("model_card.html", "tripod_ai.json", "quality.html", "quality.json"):
        assert (run.path / f).is_file(), f
    assert "model_card.html" in (run.path / "report.html").read_text()
    assert "conservative policy" in headline(m)
