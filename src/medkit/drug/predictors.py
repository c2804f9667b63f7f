"""Molecular property predictors as scikit-learn estimators, and their shared behaviour.

Inputs are SMILES lists. ``fit(smiles, y)`` takes ``y`` of shape ``(n,)`` or ``(n, T)`` with NaN for missing
labels; rows whose SMILES cannot be standardised are reported in ``fit_invalid_`` and left out of training
(never silently). ``predict`` returns NaN for invalid inputs and records them in ``invalid_`` so the rest of the
batch still gets results. :class:`FingerprintModel` is the Morgan-fingerprint + random forest / gradient
boosting baseline; :class:`medkit.drug.dmpnn.DMPNNModel` is the message-passing network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator

from medkit.core.errors import ConfigError, DataError, NotFittedError
from medkit.drug.chem import InvalidRow, StandardiseResult, parse_smiles, standardise_smiles

__all__ = ["AtomAttribution", "FingerprintModel", "MoleculePredictorMixin", "PredictionResult"]


@dataclass
class PredictionResult:
    """Predictions for ``n`` molecules and ``T`` tasks.

    ``mean`` (n, T): regression value or class-1 probability; ``variance`` (n, T): ensemble/tree variance
    (NaN where the model has no uncertainty); NaN rows are the ``invalid`` inputs.
    """

    mean: np.ndarray
    variance: np.ndarray
    tasks: list[str]
    invalid: list[InvalidRow] = field(default_factory=list)
    smiles: list[str | None] = field(default_factory=list)


@dataclass
class AtomAttribution:
    """Per-atom contribution to one prediction (same units as the prediction; sums ≈ the explained effect)."""

    smiles: str
    prediction: float
    weights: np.ndarray  # (n_atoms,)
    atoms: list[str]
    method: str
    task: str


def as_2d_targets(y: Any, where: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=object)
    try:
        out = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        bad = next((v for v in arr.ravel() if not _is_number(v)), None)
        raise DataError(f"labels must be numeric, got {bad!r}", where=where,
                        fix="encode labels as numbers (0/1 for classes), NaN for missing") from None
    return out.reshape(-1, 1) if out.ndim == 1 else out


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


class MoleculePredictorMixin:
    """Shared SMILES handling, target checks and typed prediction output."""

    task_type: str
    tasks_: list[str]

    def _check_fit_inputs(self, smiles: Sequence[str], y: Any) -> tuple[StandardiseResult, np.ndarray, np.ndarray]:
        if self.task_type not in {"regression", "classification"}:
            raise ConfigError(f"task_type must be 'regression' or 'classification', got {self.task_type!r}",
                              where="task_type", fix="pick one of the two")
        Y = as_2d_targets(y)
        if len(smiles) != len(Y):
            raise DataError(f"{len(smiles)} SMILES but {len(Y)} label rows", where="fit", fix="align the inputs")
        for j in range(Y.shape[1]):
            if np.isnan(Y[:, j]).all():
                raise DataError(f"task {j} has no labels (all NaN)", where=f"y[:, {j}]",
                                fix="drop the task or supply labels")
            if self.task_type == "classification" and not set(np.unique(Y[~np.isnan(Y[:, j]), j])) <= {0.0, 1.0}:
                raise DataError(f"classification task {j} has labels other than 0/1", where=f"y[:, {j}]",
                                fix="use 0/1 labels or task_type='regression'")
        std = self._prepare(smiles)
        keep = std.valid_index
        if len(keep) == 0:
            raise DataError("no valid molecule to train on", where="fit", fix="check the SMILES column")
        self.fit_invalid_ = std.invalid
        if not getattr(self, "tasks_", None) or len(self.tasks_) != Y.shape[1]:
            self.tasks_ = [f"task_{j}" for j in range(Y.shape[1])] if Y.shape[1] > 1 else ["y"]
        return std, keep, Y

    def _prepare(self, smiles: Sequence[Any]) -> StandardiseResult:
        """Full RDKit standardisation (default) or, with ``standardise=False``, parse + sanitise + size check only
        (for inputs that are already standardised: ~10x cheaper; invalid rows are reported the same way)."""
        if getattr(self, "standardise", True):
            return standardise_smiles(list(smiles))
        return parse_smiles(list(smiles))

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_tasks_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted", where="predict", fix="call fit first")

    def predict_with_uncertainty(self, smiles: Sequence[str]) -> PredictionResult:
        """Predictions plus variance for every input; invalid SMILES get NaN and an entry in ``invalid``."""
        self._check_fitted()
        std = self._prepare(smiles)
        mean = np.full((len(std.smiles), self.n_tasks_), np.nan)  # type: ignore[attr-defined]
        var = np.full_like(mean, np.nan)
        idx = std.valid_index
        if len(idx):
            mols = None if std.mols is None else [std.mols[i] for i in idx]
            m, v = self._predict_valid([s for s in std.smiles if s is not None], mols)
            mean[idx], var[idx] = m, v
        self.invalid_ = std.invalid
        return PredictionResult(mean, var, list(self.tasks_), std.invalid, std.smiles)

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """``(n,)`` for one task else ``(n, T)``: values (regression) or class-1 probabilities."""
        out = self.predict_with_uncertainty(smiles).mean
        return out[:, 0] if out.shape[1] == 1 else out

    def explain(self, smiles: str | Sequence[str], task: int = 0) -> AtomAttribution | list[AtomAttribution]:
        """Per-atom attributions: one :class:`AtomAttribution` for a SMILES string, a list for a list.

        This is what ``medkit.interpret.explain(model, X)`` dispatches to; draw the result with
        :func:`medkit.drug.draw.draw_attributions`. Raises :class:`DataError` for an invalid SMILES.
        """
        if isinstance(smiles, str):
            return self._explain_one(smiles, task)
        return [self._explain_one(s, task) for s in smiles]

    def _explain_one(self, smiles: str, task: int = 0) -> AtomAttribution:
        raise NotImplementedError

    def _predict_valid(self, smiles: list[str], mols: list[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict_proba(self, smiles: Sequence[str]) -> np.ndarray:
        """``(n, 2)`` class probabilities for a single classification task (NaN rows for invalid SMILES)."""
        if self.task_type != "classification":
            raise ConfigError("predict_proba needs task_type='classification'", where="predict_proba",
                              fix="use predict for regression")
        p = self.predict_with_uncertainty(smiles).mean
        if p.shape[1] != 1:
            raise ConfigError("predict_proba is defined for one task; use predict for multitask",
                              where="predict_proba", fix="call predict")
        return np.column_stack([1 - p[:, 0], p[:, 0]])


class FingerprintModel(MoleculePredictorMixin, BaseEstimator):
    """Morgan fingerprint (ECFP4 counts, 2048 bits) + random forest or gradient boosting; one model per task.

    Parameters
    ----------
    task_type
        ``"regression"`` or ``"classification"``.
    model
        ``"rf"`` (variance across trees is the uncertainty) or ``"gbm"`` (sklearn HistGradientBoosting).
    n_estimators, radius, n_bits, seed
        Forest size, Morgan radius and length, random seed.
    standardise
        Run RDKit standardisation on every input (default); ``False`` = parse and check only, for SMILES that
        are already standardised.
    """

    def __init__(self, task_type: Literal["regression", "classification"] = "regression",
                 model: Literal["rf", "gbm"] = "rf", n_estimators: int = 300, radius: int = 2, n_bits: int = 2048,
                 seed: int = 0, n_jobs: int = 1, standardise: bool = True) -> None:
        self.task_type = task_type
        self.standardise = standardise
        self.model = model
        self.n_estimators = n_estimators
        self.radius = radius
        self.n_bits = n_bits
        self.seed = seed
        self.n_jobs = n_jobs

    def _features(self, smiles: Sequence[str], mols: list[Any] | None = None) -> np.ndarray:
        from medkit.drug.chem import mol_from_smiles
        from medkit.drug.featurize import morgan_matrix

        mols = mols if mols is not None else [mol_from_smiles(s) for s in smiles]
        return morgan_matrix(mols, self.radius, self.n_bits, counts=True)

    def _make(self) -> Any:
        from sklearn.ensemble import (
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        if self.model not in {"rf", "gbm"}:
            raise ConfigError(f"unknown fingerprint model {self.model!r}", where="model", fix="use 'rf' or 'gbm'")
        reg = self.task_type == "regression"
        if self.model == "rf":
            cls = RandomForestRegressor if reg else RandomForestClassifier
            return cls(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=self.n_jobs,
                       )
        cls2 = HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier
        return cls2(max_iter=self.n_estimators, learning_rate=0.05, random_state=self.seed)

    def fit(self, smiles: Sequence[str], y: Any) -> FingerprintModel:
        std, keep, Y = self._check_fit_inputs(smiles, y)
        X = self._features([std.smiles[i] for i in keep],  # type: ignore[misc]
                           None if std.mols is None else [std.mols[i] for i in keep])
        Y = Y[keep]
        self.estimators_ = []
        for j in range(Y.shape[1]):
            lab = ~np.isnan(Y[:, j])  # masked: each task trains on its labelled molecules only
            self.estimators_.append(self._make().fit(X[lab], Y[lab, j]))
        self.n_tasks_ = Y.shape[1]
        self.train_smiles_ = [std.smiles[i] for i in keep]
        return self

    def _predict_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.zeros((len(X), self.n_tasks_))
        var = np.full_like(mean, np.nan)
        for j, est in enumerate(self.estimators_):
            if self.task_type == "regression":
                mean[:, j] = est.predict(X)
                if self.model == "rf":
                    var[:, j] = np.var(np.stack([t.predict(X) for t in est.estimators_]), axis=0)
            else:
                mean[:, j] = est.predict_proba(X)[:, 1]
                if self.model == "rf":
                    var[:, j] = np.var(np.stack([t.predict_proba(X)[:, 1] for t in est.estimators_]), axis=0)
        return mean, var

    def _predict_valid(self, smiles: list[str], mols: list[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._predict_matrix(self._features(smiles, mols))

    def _explain_one(self, smiles: str, task: int = 0) -> AtomAttribution:
        """Per-atom attribution by fingerprint occlusion (Riniker & Landrum 2013, RDKit SimilarityMaps).

        For each atom, remove the count of every Morgan environment rooted at that atom and record how the
        prediction drops: ``w_i = f(fp) − f(fp without atom i's environments)``.
        """
        from rdkit.Chem import rdFingerprintGenerator

        self._check_fitted()
        mol = _valid_mol(smiles)
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=self.radius, fpSize=self.n_bits)
        ao = rdFingerprintGenerator.AdditionalOutput()
        ao.AllocateBitInfoMap()
        base = gen.GetCountFingerprintAsNumPy(mol, additionalOutput=ao).astype(np.float32)
        occluded = np.repeat(base[None], mol.GetNumAtoms(), axis=0)
        for bit, envs in ao.GetBitInfoMap().items():
            for center, _radius in envs:
                occluded[center, bit] -= 1
        preds, _ = self._predict_matrix(np.vstack([base[None], occluded]))
        w = preds[0, task] - preds[1:, task]
        return AtomAttribution(smiles, float(preds[0, task]), w, [a.GetSymbol() for a in mol.GetAtoms()],
                               "fingerprint occlusion", self.tasks_[task])


def _valid_mol(smiles: str) -> Any:
    from medkit.drug.chem import mol_from_smiles

    mol = mol_from_smiles(smiles)
    if mol is None:
        raise DataError(f"cannot explain an invalid SMILES {smiles!r}", where="explain",
                        fix="pass a valid SMILES (see medkit.drug.chem.standardise_smiles for the reason)")
    return mol
