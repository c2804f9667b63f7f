"""The contract between ``medkit demo`` and each workflow's demo function.

Every pillar exposes ``medkit.<pillar>.demo.run_demo(out_dir, *, seed, data_dir) -> DemoResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoResult:
    """What a workflow demo produced.

    Attributes
    ----------
    title
        Human title for the index page.
    report
        Path of the workflow's ``report.html``.
    summary
        One or two sentences with the headline numbers.
    run_dir
        The run directory (for ``medkit serve`` and ``medkit runs show``).
    skipped
        Non-empty reason when the workflow could not run (e.g. data dir absent).
    """

    title: str
    report: Path | None
    summary: str
    run_dir: Path | None = None
    skipped: str = ""
    extra: dict[str, str] = field(default_factory=dict)
