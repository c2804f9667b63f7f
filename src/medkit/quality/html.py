"""HTML rendering of a :class:`QualityReport` (through :class:`medkit.reporting.Report`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medkit.quality.report import QualityReport

_TABLE_TITLES = {
    "missingness": "Missingness per variable",
    "duplicates": "Duplicates and near-duplicates",
    "patients": "Rows per patient",
    "class_balance": "Class balance",
    "leakage": "Label-leakage screen (each feature alone)",
    "post_outcome": "Features recorded after the outcome",
    "outliers": "Outliers (robust z > 6)",
}


def render_quality_html(report: QualityReport, path: str | Path, title: str | None = None) -> Path:
    from medkit.reporting import Report

    s = report.summary()
    verdict = ("FAIL: errors must be fixed before training" if s["n_errors"] else
               "PASS with warnings: review them, then train with --allow-quality-warnings" if s["n_warnings"] else
               "PASS")
    rep = Report(title or f"Data quality: {report.source}",
                 subtitle=f"{report.n_rows} rows, {report.n_columns} columns · {verdict}",
                 meta={"errors": str(s["n_errors"]), "warnings": str(s["n_warnings"]), "info": str(s["n_info"])})
    sec = rep.section("Findings")
    sec.text("Errors block training (label leakage, patients shared between splits, values outside declared "
             "physiological ranges). Warnings need a human decision. Info is for the record. Patient values are "
             "never printed; rows are named so the data owner can look them up.")
    if report.findings:
        sec.table([{"severity": f.severity, "check": f.check, "finding": f.message, "where": f.where, "fix": f.fix}
                   for f in report.sorted_findings()], caption="All findings, errors first", max_rows=500)
    else:
        sec.text("No findings.")
    sec.text("Checks run: " + ", ".join(report.checks_run))
    for key, rows in report.tables.items():
        title_ = _TABLE_TITLES.get(key, key[0].upper() + key[1:])
        sub = rep.section(title_)
        if key == "missingness":
            rows = sorted(rows, key=lambda r: -float(r.get("fraction", 0)))  # type: ignore[arg-type]
        if key.startswith("shift"):
            sub.text("PSI < 0.1 stable, 0.1-0.25 moderate (info), > 0.25 major (warning). KS: two-sample "
                     "Kolmogorov-Smirnov statistic; with many rows tiny shifts are significant, so read PSI.")
        sub.table(rows, max_rows=60)
    return rep.write(path)
