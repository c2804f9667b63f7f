"""Smoke-plus-result test of the treatment demo (GDSC2 absent from the data directory → that part is skipped)."""

from __future__ import annotations

import json
from pathlib import Path

from medkit.treatment.demo import run_demo


def test_run_demo_report_and_best_arm_beats_random(tmp_path: Path) -> None:
    res = run_demo(tmp_path / "out", seed=0, data_dir=tmp_path / "no-gdsc2")
    assert res.report.is_file() and res.report.stat().st_size > 10_000
    html = res.report.read_text()
    assert "model_card.html" in html and "quality.html" in html
    assert (res.run_dir / "model_card.html").is_file() and (res.run_dir / "quality.html").is_file()
    m = json.loads((res.run_dir / "metrics.json").read_text())
    a = m.get("actg175") or m["metrics"]["actg175"]
    pv = a["policy_values"]
    assert pv["best-single-arm"]["dr"] > pv["random-arm"]["dr"]
    assert a["vs_random"]["best-single-arm"]["dr_ci"][0] > 0  # confidently better than random assignment
    assert "skipped" in (m.get("gdsc2") or m["metrics"]["gdsc2"])
    assert "conservative policy" in res.summary
