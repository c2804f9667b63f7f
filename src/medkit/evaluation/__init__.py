"""Metrics with bootstrap confidence intervals, calibration, confusion matrices and plots."""

from medkit.evaluation.bootstrap import MetricResult, bootstrap_ci
from medkit.evaluation.calibration import CalibrationResult, calibration
from medkit.evaluation.metrics import METRICS, binary_report, regression_report

__all__ = ["METRICS", "CalibrationResult", "MetricResult", "binary_report", "bootstrap_ci", "calibration",
           "regression_report"]
