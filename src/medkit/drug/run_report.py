"""Trust artefacts of a property-model run: ``trust.json``, model card + TRIPOD+AI checklist, ``report.html``."""

from __future__ import annotations

from typing import Any

from medkit.core.runs import RunDir

__all__ = ["write_run_report"]

_LIMITATIONS = [
    "Predictions are for small organic molecules like those in the training set; the ensemble/tree spread (sd) "
    "is a relative uncertainty, not a calibrated interval.",
    "Test metrics are from one scaffold (or random) 80/10/10 split; other splits and seeds vary.",
    "Duplicate molecules were merged before splitting by the rule in quality.json (see docs/drug.md).",
]


def write_run_report(run: RunDir, cfg: Any, metrics: dict[str, Any], quality: Any) -> Any:
    """Write ``trust.json``, ``model_card.{md,html}``, ``tripod_ai.{md,json}`` and ``report.html`` into ``run``.

    Returns the :class:`medkit.reporting.model_card.ModelCardPaths`.
    """
    from medkit.reporting.html import Report
    from medkit.reporting.model_card import ModelCardInfo, add_quality_and_card_sections, write_model_card

    dup = metrics.get("duplicates", {})
    run.write_json("trust.json", {
        "quality": quality.summary(),
        "population": {"n": dup.get("molecules_out"), "n_features": None},
        "outcome": ", ".join(str(t) for t in metrics.get("test", {}) if t != "mean") or None,
        "limitations": _LIMITATIONS})
    info = ModelCardInfo(
        intended_use="Ranking and triage of candidate molecules by a predicted physicochemical or ADMET property "
                     "in research; not for clinical decisions about patients.",
        intended_users="Medicinal and computational chemists.",
        out_of_scope="Molecules unlike the training set (metals, peptides, polymers); regulatory submissions.",
        setting="Early drug discovery (in silico screening).")
    paths = write_model_card(run.path, info)

    rep = Report(f"Property model: {cfg.model} on {cfg.dataset or cfg.csv}", subtitle=str(metrics.get("split", "")))
    s = rep.section("Test performance (95% bootstrap CI)")
    for task, vals in metrics.get("test", {}).items():
        if task != "mean" and isinstance(vals, dict) and "note" not in vals:
            s.metrics(vals, caption=f"{task}")
        elif task != "mean":
            s.text(f"{task}: {vals.get('note', '')}")
    add_quality_and_card_sections(rep, quality, paths, detail=f". Input: {metrics.get('input', '')}")
    rep.write(run.path / "report.html")
    return paths
