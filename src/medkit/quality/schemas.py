"""Declared schemas of the registered real datasets (types, units, plausible ranges, roles).

Ranges are *physically plausible* bounds, not normal ranges: a value outside them is almost certainly a
unit or entry error (pH written 735, temperature in °F, height in metres). Sources: the dataset
documentation (UCI WDBC, PhysioNet 2012 challenge page), and for PhysioNet measurements the same bounds the
clinical pillar's cleaning rules use (medkit.clinical.cleaning.PHYSICAL_RANGES), so a raw record that the
cleaning would change is reported here first.
"""

from __future__ import annotations

from medkit.quality.schema import SCHEMAS, ColumnSpec, TableSchema

# -- WDBC: 10 nucleus measurements x (mean, standard error, worst) ------------------------------------------
_WDBC_BASE = {  # (unit, upper bound) — lower bound 0 for all; uppers ~2x the largest value in the UCI data
    "radius": ("pixels (mean distance centre-perimeter)", 60.0),
    "texture": ("grey-scale SD", 80.0),
    "perimeter": ("pixels", 500.0),
    "area": ("pixels^2", 10000.0),
    "smoothness": ("local variation in radius", 1.0),
    "compactness": ("perimeter^2/area - 1", 3.0),
    "concavity": ("severity of concave portions", 3.0),
    "concave points": ("number of concave portions", 1.0),
    "symmetry": ("ratio", 1.5),
    "fractal dimension": ("coastline approximation - 1", 1.0),
}


def _wdbc() -> TableSchema:
    cols = []
    for prefix, key in (("mean", "mean {}"), ("error", "{} error"), ("worst", "worst {}")):
        for name, (unit, hi) in _WDBC_BASE.items():
            cols.append(ColumnSpec(key.format(name), "float", unit=unit, min=0.0, max=hi, nullable=False,
                                   description=f"{prefix} of {name} over the nuclei in the image"))
    cols.append(ColumnSpec("patient_id", "int", role="id", nullable=False))
    cols.append(ColumnSpec("malignant", "int", categories=(0, 1), role="label", nullable=False,
                           description="1 = malignant, 0 = benign (histology)"))
    return TableSchema("wdbc", tuple(cols), description="UCI Wisconsin Diagnostic Breast Cancer")


# -- PhysioNet 2012: descriptors, per-record summaries of the 37 series, outcomes ---------------------------
PHYSIONET_RANGES: dict[str, tuple[float, float, str]] = {
    "ALP": (1, 5000, "IU/L"), "ALT": (1, 20000, "IU/L"), "AST": (1, 30000, "IU/L"), "Albumin": (0.5, 7, "g/dL"),
    "BUN": (0.5, 300, "mg/dL"), "Bilirubin": (0, 80, "mg/dL"), "Cholesterol": (20, 800, "mg/dL"),
    "Creatinine": (0.05, 30, "mg/dL"), "DiasABP": (1, 250, "mmHg"), "FiO2": (0.21, 1, "fraction"),
    "GCS": (3, 15, "points"), "Glucose": (5, 2000, "mg/dL"), "HCO3": (2, 60, "mmol/L"), "HCT": (5, 75, "%"),
    "HR": (1, 300, "bpm"), "K": (1, 12, "mEq/L"), "Lactate": (0.1, 40, "mmol/L"), "MAP": (1, 300, "mmHg"),
    "MechVent": (0, 1, "0/1"), "Mg": (0.2, 10, "mmol/L"), "NIDiasABP": (1, 250, "mmHg"),
    "NIMAP": (1, 300, "mmHg"), "NISysABP": (1, 300, "mmHg"), "Na": (90, 200, "mEq/L"),
    "PaCO2": (5, 200, "mmHg"), "PaO2": (10, 800, "mmHg"), "Platelets": (1, 2500, "10^9/L"),
    "RespRate": (1, 100, "breaths/min"), "SaO2": (20, 100, "%"), "SysABP": (1, 300, "mmHg"),
    "Temp": (25, 45, "°C"), "TroponinI": (0, 500, "ug/L"), "TroponinT": (0, 100, "ug/L"),
    "Urine": (0, 12000, "mL"), "WBC": (0.05, 300, "10^9/L"), "Weight": (20, 350, "kg"), "pH": (6.3, 8.0, "pH"),
}


def _physionet() -> TableSchema:
    cols = [ColumnSpec("record_id", "int", role="id", nullable=False)]
    for p, (lo, hi, unit) in PHYSIONET_RANGES.items():
        for stat in ("min", "max", "mean", "first", "last"):
            cols.append(ColumnSpec(f"{p}_{stat}", "float", unit=unit, min=lo, max=hi, required=False))
        cols.append(ColumnSpec(f"{p}_count", "float", unit="measurements", min=0, required=False))
    cols += [
        ColumnSpec("static_Age", "float", unit="years", min=15, max=120, role="attribute"),
        ColumnSpec("static_Gender", "float", categories=(0.0, 1.0), role="attribute",
                   description="0 female, 1 male"),
        ColumnSpec("static_Height", "float", unit="cm", min=100, max=250),
        ColumnSpec("static_ICUType", "float", categories=(1.0, 2.0, 3.0, 4.0), role="attribute",
                   description="1 coronary care, 2 cardiac surgery recovery, 3 medical, 4 surgical"),
        ColumnSpec("static_Weight", "float", unit="kg", min=20, max=350),
        ColumnSpec("In-hospital_death", "int", categories=(0, 1), role="label", nullable=False),
        # Outcome-file columns: scores computed over the stay and facts known only at/after discharge.
        ColumnSpec("SAPS-I", "float", role="post_outcome", required=False,
                   description="severity score from the first 24 h; not a model input in the challenge"),
        ColumnSpec("SOFA", "float", role="post_outcome", required=False),
        ColumnSpec("Length_of_stay", "float", unit="days", role="post_outcome", required=False),
        ColumnSpec("Survival", "float", unit="days", role="post_outcome", required=False),
    ]
    return TableSchema("physionet2012", tuple(cols), missing_sentinels=(-1.0,),
                       description="PhysioNet/CinC 2012, one row per ICU stay (summary_features + outcomes)")


def register_builtin_schemas() -> None:
    """Register the schemas above (idempotent)."""
    for schema in (_wdbc(), _physionet()):
        if schema.name not in SCHEMAS:
            SCHEMAS.add(schema.name, schema)


register_builtin_schemas()
