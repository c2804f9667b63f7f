"""Typed results of data-quality checks: :class:`Finding`, :class:`QualityReport` and :func:`gate`.

A check never raises on bad data; it records a :class:`Finding` with a severity:

* ``error``   — training on this data would give wrong or leaky numbers (label leakage, a patient in
  both train and test, values outside a declared physiological range). :func:`gate` always refuses.
* ``warning`` — a human should look before training (strong shift between splits, heavy missingness,
  duplicated rows, severe class imbalance). :func:`gate` refuses unless ``allow_warnings=True``.
* ``info``    — worth knowing, no action required (outlier counts, strong but plausible predictors).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from medkit.core.errors import ValidationError
from medkit.core.runs import atomic_write_text, dumps

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    Attributes
    ----------
    check
        Name of the check (``missingness``, ``duplicates``, ``label_leakage``, ``shift``, ...).
    severity
        ``error`` / ``warning`` / ``info`` (see module docstring).
    message
        What was found, in one sentence a clinician can read (never patient values).
    where
        Column, ``column, row N`` or split names.
    fix
        What to do about it.
    value
        The statistic behind the finding (fraction, AUROC, PSI, count), for sorting and JSON.
    """

    check: str
    severity: Severity
    message: str
    where: str = ""
    fix: str = ""
    value: float | None = None


@dataclass
class QualityReport:
    """All findings plus profile tables for one table (or one train/test pair).

    Attributes
    ----------
    source
        Dataset name or file path.
    n_rows, n_columns
        Shape of the checked table (features + label + id).
    findings
        Every finding, errors first.
    tables
        Named profile tables (``missingness``, ``shift``, ``outliers``, ``class_balance``,
        ``leakage``): lists of row dicts, ready for HTML/JSON.
    checks_run
        Names of the checks that ran (a check that could not run, e.g. shift without a split, is absent).
    """

    source: str
    n_rows: int
    n_columns: int
    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks_run: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> list[Finding]:
        return self.by_severity("error")

    @property
    def warnings(self) -> list[Finding]:
        return self.by_severity("warning")

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings may remain)."""
        return not self.errors

    def has(self, check: str, severity: Severity | None = None) -> bool:
        """Whether any finding of ``check`` (optionally at ``severity``) exists."""
        return any(f.check == check and (severity is None or f.severity == severity) for f in self.findings)

    def sorted_findings(self) -> list[Finding]:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(self.findings, key=lambda f: (order[f.severity], f.check, f.where))

    def summary(self) -> dict[str, Any]:
        """Short JSON-ready summary for run directories and model cards."""
        return {
            "source": self.source, "n_rows": self.n_rows, "n_columns": self.n_columns,
            "n_errors": len(self.errors), "n_warnings": len(self.warnings),
            "n_info": len(self.by_severity("info")), "checks_run": list(self.checks_run),
            "errors": [f.message for f in self.errors][:20],
            "warnings": [f.message for f in self.warnings][:20],
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "findings": [asdict(f) for f in self.sorted_findings()],
                "tables": self.tables}

    def write_json(self, path: str | Path) -> Path:
        p = Path(path)
        atomic_write_text(p, dumps(self.to_dict()))
        return p

    @classmethod
    def read_json(cls, path: str | Path) -> QualityReport:
        data = json.loads(Path(path).read_text())
        s = data["summary"]
        return cls(source=s["source"], n_rows=s["n_rows"], n_columns=s["n_columns"],
                   findings=[Finding(**f) for f in data["findings"]], tables=data.get("tables", {}),
                   checks_run=s.get("checks_run", []))

    def write_html(self, path: str | Path, title: str | None = None) -> Path:
        """Self-contained HTML quality report (findings, then one table per profile)."""
        from medkit.quality.html import render_quality_html

        return render_quality_html(self, path, title=title)


def gate(report: QualityReport, allow_warnings: bool = False) -> None:
    """Refuse to train on data with quality errors (and warnings, unless allowed).

    Parameters
    ----------
    report
        The result of :func:`medkit.quality.check_table` or :func:`medkit.quality.check_dataset`.
    allow_warnings
        Let warnings through (the CLI flag ``--allow-quality-warnings``). Errors are never let through:
        a leaked label or a patient in both train and test makes every downstream number wrong.

    Raises
    ------
    ValidationError
        Naming the first blocking findings, where they are and how to fix them.
    """
    blocking = list(report.errors) + ([] if allow_warnings else list(report.warnings))
    if not blocking:
        return
    first = blocking[0]
    more = f" and {len(blocking) - 1} more" if len(blocking) > 1 else ""
    kinds = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    fix = first.fix or "inspect the quality report"
    if report.errors:
        fix += "; errors cannot be overridden"
    else:
        fix += "; or pass --allow-quality-warnings (allow_warnings=True) after reviewing them"
    raise ValidationError(f"data-quality gate failed on {report.source} ({kinds}): {first.message}{more}",
                          where=first.where or report.source, fix=fix)
