"""Irregular ICU series → a regular hourly grid with masks and time since last observation.

The grid is what the recurrent models read. Normalisation statistics come from
the training records only (:class:`SeriesScaler` is fitted on them and then applied
unchanged to validation, test and new patients).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medkit.core.errors import DataError, NotFittedError
from medkit.data.physionet import DESCRIPTORS, PARAMETERS

#: Heavy-tailed variables modelled on the log scale (log1p) before standardising.
LOG_VARIABLES = frozenset({"ALP", "ALT", "AST", "BUN", "Bilirubin", "Creatinine", "Glucose", "Lactate",
                           "TroponinI", "TroponinT", "Urine", "WBC", "Platelets"})


@dataclass
class SequenceData:
    """A batch of records on a regular grid.

    Attributes
    ----------
    values
        ``(N, T, V)`` float32 — bin mean of the observed values, NaN where unobserved
        (raw units until a :class:`SeriesScaler` is applied; then standardised, 0 where unobserved).
    mask
        ``(N, T, V)`` float32 — 1 where the variable was observed in the bin.
    delta
        ``(N, T, V)`` float32 — hours since the variable was last observed
        (at bin resolution; counts from admission when never observed yet).
    last
        ``(N, T, V)`` float32 — last observed value carried forward (NaN before the first).
    static
        ``(N, S)`` float32 — descriptors (Age, Gender, Height, ICUType one-hot, Weight), NaN where missing.
    record_ids
        ``(N,)`` record ids, in row order.
    variables, step_minutes
        Variable names (length V) and bin width.
    """

    values: np.ndarray
    mask: np.ndarray
    delta: np.ndarray
    last: np.ndarray
    static: np.ndarray
    record_ids: np.ndarray
    variables: tuple[str, ...]
    step_minutes: int
    static_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def take(self, idx: np.ndarray | Sequence[int]) -> SequenceData:
        i = np.asarray(idx)
        return SequenceData(self.values[i], self.mask[i], self.delta[i], self.last[i], self.static[i],
                            self.record_ids[i], self.variables, self.step_minutes, self.static_names)


def _static_matrix(static: pd.DataFrame, ids: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    s = static.reindex(ids)
    cols = [s["Age"], s["Gender"], s["Height"], s["Weight"]]
    names = ["Age", "Gender", "Height", "Weight"]
    for k in (1, 2, 3, 4):  # ICU type one-hot: 1 coronary, 2 cardiac surgery, 3 medical, 4 surgical
        cols.append((s["ICUType"] == k).astype(float).where(s["ICUType"].notna()))
        names.append(f"ICUType_{k}")
    return np.column_stack([c.to_numpy(dtype=float) for c in cols]).astype(np.float32), tuple(names)


def to_grid(long: pd.DataFrame, static: pd.DataFrame, record_ids: Sequence[int] | np.ndarray, *,
            hours: int = 48, step_minutes: int = 60) -> SequenceData:
    """Bin the measurements of ``record_ids`` into ``hours * 60 / step_minutes`` steps.

    A measurement at minute ``t`` goes to bin ``t // step_minutes``; the closing
    measurement at exactly 48:00 goes into the last bin. Several values in one bin
    are averaged. ``delta`` follows GRU-D (Che et al. 2018): hours since the last
    observed bin of the variable.
    """
    if step_minutes <= 0 or (hours * 60) % step_minutes:
        raise DataError(f"step of {step_minutes} min does not divide {hours} h", where="to_grid",
                        fix="use a step that divides the window, e.g. 60 or 30")
    ids = np.asarray(record_ids)
    T, V = hours * 60 // step_minutes, len(PARAMETERS)
    row_of = pd.Series(np.arange(len(ids)), index=ids)
    df = long[long["record_id"].isin(row_of.index) & (long["minutes"] <= hours * 60)]
    r = row_of.loc[df["record_id"].to_numpy()].to_numpy()
    t = np.minimum(df["minutes"].to_numpy() // step_minutes, T - 1)
    v = pd.Categorical(df["parameter"], categories=list(PARAMETERS)).codes
    if (v < 0).any():
        raise DataError("unknown parameter in long table", where="to_grid", fix="read records with medkit.data.physionet")
    flat = (r * T + t) * V + v
    sums = np.bincount(flat, weights=df["value"].to_numpy(dtype=float), minlength=len(ids) * T * V)
    counts = np.bincount(flat, minlength=len(ids) * T * V)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (sums / counts).reshape(len(ids), T, V)
    mask = (counts > 0).reshape(len(ids), T, V)
    values[~mask] = np.nan
    step_h = step_minutes / 60.0
    delta = np.zeros((len(ids), T, V), dtype=np.float32)
    last = np.full((len(ids), T, V), np.nan, dtype=np.float32)
    carry = np.full((len(ids), V), np.nan)
    for k in range(T):
        if k > 0:
            # time since last observation grows by one step unless observed at the previous step
            delta[:, k] = np.where(mask[:, k - 1], step_h, delta[:, k - 1] + step_h)
        carry = np.where(mask[:, k], values[:, k], carry)
        last[:, k] = carry
    s, names = _static_matrix(static, ids)
    return SequenceData(values.astype(np.float32), mask.astype(np.float32), delta, last, s, ids,
                        tuple(PARAMETERS), step_minutes, names)


class SeriesScaler:
    """Per-variable standardisation fitted on the training records only.

    Heavy-tailed variables (:data:`LOG_VARIABLES`) are log1p-transformed first.
    After :meth:`transform`, unobserved entries are 0 (the training mean), ``last``
    is 0 before the first observation, ``delta`` is divided by the window length
    and static NaNs are 0 with the static means/stds applied.
    """

    def fit(self, data: SequenceData) -> SeriesScaler:
        x = self._log(data.values, data.variables)
        with warnings.catch_warnings():  # a variable never measured in training: mean 0, std 1 below
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nan_to_num(np.nanmean(x, axis=(0, 1)))
            std = np.nan_to_num(np.nanstd(x, axis=(0, 1)))
            self.static_mean_ = np.nan_to_num(np.nanmean(data.static, axis=0))
            sstd = np.nan_to_num(np.nanstd(data.static, axis=0))
        self.std_ = np.where(std > 1e-6, std, 1.0)
        self.static_std_ = np.where(sstd > 1e-6, sstd, 1.0)
        self.horizon_h_ = data.values.shape[1] * data.step_minutes / 60.0
        self.variables_ = data.variables
        return self

    @staticmethod
    def _log(x: np.ndarray, variables: Sequence[str]) -> np.ndarray:
        x = x.astype(np.float64, copy=True)
        idx = [i for i, v in enumerate(variables) if v in LOG_VARIABLES]
        x[..., idx] = np.log1p(np.clip(x[..., idx], 0, None))
        return x

    def transform(self, data: SequenceData) -> SequenceData:
        if not hasattr(self, "mean_"):
            raise NotFittedError("SeriesScaler used before fit", where="SeriesScaler.transform", fix="call fit first")
        if tuple(data.variables) != tuple(self.variables_):
            raise DataError("variables differ from the ones the scaler was fitted on", where="SeriesScaler",
                            fix="build the grid with the same variables")
        v = np.nan_to_num((self._log(data.values, data.variables) - self.mean_) / self.std_)
        last = np.nan_to_num((self._log(data.last, data.variables) - self.mean_) / self.std_)
        s = np.nan_to_num((data.static - self.static_mean_) / self.static_std_)
        return SequenceData(v.astype(np.float32), data.mask, (data.delta / self.horizon_h_).astype(np.float32),
                            last.astype(np.float32), s.astype(np.float32), data.record_ids, data.variables,
                            data.step_minutes, data.static_names)

    def state(self) -> dict[str, object]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> SeriesScaler:
        obj = cls()
        for k, v in state.items():
            setattr(obj, k, np.asarray(v) if isinstance(v, list) and k != "variables_" else v)
        obj.variables_ = tuple(obj.variables_)  # type: ignore[has-type]
        return obj


__all__ = ["DESCRIPTORS", "LOG_VARIABLES", "SequenceData", "SeriesScaler", "to_grid"]
