"""medkit.quality: data-quality checks with typed, severity-graded findings (see docs/trust.md).

Typical use::

    from medkit.quality import check_xy, gate
    report = check_xy(X, y, groups, split=split_names, source="my table")
    report.write_html("quality.html")
    gate(report, allow_warnings=False)     # raises ValidationError on errors (and warnings unless allowed)
"""

from medkit.quality.datasets import check_dataset, check_images, check_smiles
from medkit.quality.report import Finding, QualityReport, Severity, gate
from medkit.quality.runner import check_file, check_table, check_xy
from medkit.quality.schema import SCHEMAS, ColumnSpec, TableSchema, validate_or_raise, validate_schema
from medkit.quality.schemas import register_builtin_schemas
from medkit.quality.shift import distribution_shift, psi, split_overlap

__all__ = [
    "SCHEMAS", "ColumnSpec", "Finding", "QualityReport", "Severity", "TableSchema", "check_dataset", "check_file",
    "check_images", "check_smiles", "check_table", "check_xy", "distribution_shift", "gate", "psi",
    "register_builtin_schemas", "split_overlap", "validate_or_raise", "validate_schema",
]
