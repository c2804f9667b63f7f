"""The screening funnel: candidates → valid → unique → drug-like → novel → predicted properties → ranked.

Every molecule that enters leaves either in the ranked table or with the stage and reason that removed it, so
the counts add up (``n_in = n_out + removed`` at every stage) and a chemist can see why a candidate was dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.errors import ConfigError
from medkit.drug.chem import canonical, standardise_smiles

__all__ = ["FunnelConfig", "FunnelResult", "FunnelStage", "Objective", "run_funnel"]


class Objective(StrictModel):
    """One predicted property used for ranking: ``direction`` +1 maximise, −1 minimise; ``weight`` ≥ 0."""

    name: str
    direction: int = Field(1, ge=-1, le=1)
    weight: float = Field(1.0, ge=0)


class FunnelConfig(StrictModel):
    """Thresholds of the drug-likeness stage and the ranking rule.

    ``kappa`` turns the ranking score into a lower confidence bound: each objective contributes
    ``direction · (mean − direction · kappa · sd)``, so uncertain predictions rank lower.
    """

    max_lipinski_violations: int = Field(1, ge=0, le=4)
    remove_pains: bool = True
    remove_brenk: bool = True
    max_sa: float = Field(6.0, gt=1, le=10)
    require_novel: bool = True
    kappa: float = Field(1.0, ge=0)
    top_k: int = Field(20, ge=1)


@dataclass
class FunnelStage:
    name: str
    n_in: int
    n_out: int
    removed: dict[str, int] = field(default_factory=dict)


@dataclass
class FunnelResult:
    """``stages`` with counts; ``table`` has one row per unique valid molecule (``failed_stage`` empty for the
    ones that passed, ``rank`` 1… for them); ``invalid`` the per-row invalid-input report."""

    stages: list[FunnelStage]
    table: pd.DataFrame
    invalid: list[dict[str, Any]]
    objectives: list[Objective]

    @property
    def ranked(self) -> pd.DataFrame:
        t = self.table[self.table["failed_stage"] == ""]
        return t.sort_values("rank")

    def counts(self) -> list[dict[str, Any]]:
        return [{"stage": s.name, "in": s.n_in, "out": s.n_out, "removed": s.n_in - s.n_out,
                 "reasons": "; ".join(f"{k} ×{v}" for k, v in sorted(s.removed.items(), key=lambda kv: -kv[1]))}
                for s in self.stages]


def _stage(name: str, n_in: int, reasons: Sequence[str]) -> FunnelStage:
    c = Counter(r for r in reasons if r)
    return FunnelStage(name, n_in, n_in - sum(c.values()), dict(c))


def run_funnel(candidates: Sequence[str], *, train_smiles: Sequence[str] | set[str] | None = None,
               predictors: dict[str, Any] | None = None, objectives: Sequence[Objective] | None = None,
               config: FunnelConfig | None = None) -> FunnelResult:
    """Screen ``candidates`` (SMILES) through the funnel.

    Parameters
    ----------
    candidates
        Generated or loaded SMILES (invalid ones are counted and reported, not dropped silently).
    train_smiles
        Training set of the generator for the novelty stage (canonical SMILES); ``None`` skips the stage.
    predictors
        ``{name: fitted predictor}``, each with ``predict_with_uncertainty`` (medkit drug predictors).
    objectives
        Ranking objectives over predictor names and/or ``qed``; default: maximise QED.
    """
    from medkit.drug.chem import mol_from_smiles
    from medkit.drug.druglike import assess

    cfg = config or FunnelConfig()
    predictors = predictors or {}
    objs = list(objectives or [Objective(name="qed")])
    known = set(predictors) | {"qed", "sa", "logp", "mw", "tpsa"}
    for o in objs:
        if o.name not in known:
            raise ConfigError(f"ranking objective {o.name!r} is neither a predictor nor a computed property",
                              where="objectives", fix=f"use one of {sorted(known)}")
    stages: list[FunnelStage] = []
    std = standardise_smiles(list(candidates), strip_salts=False, neutralise=False)
    stages.append(_stage("valid", len(candidates), [r.reason.split(":")[0] for r in std.invalid]))
    valid = std.valid_smiles
    seen: dict[str, int] = {}
    raw_forms: dict[str, set[str]] = {}  # standardised -> canonical forms of the inputs (for novelty look-ups)
    for i in std.valid_index:
        s = std.smiles[i]
        assert s is not None
        seen[s] = seen.get(s, 0) + 1
        raw_forms.setdefault(s, set()).add(canonical(candidates[i]) or s)
    uniq = list(seen)
    stages.append(FunnelStage("unique", len(valid), len(uniq), {"duplicate": len(valid) - len(uniq)}
                              if len(valid) > len(uniq) else {}))
    rows = []
    for s in uniq:
        d = assess(mol_from_smiles(s)).as_dict()
        reasons = []
        if d["lipinski_violations"] > cfg.max_lipinski_violations:
            reasons.append("Lipinski")
        if cfg.remove_pains and d["pains"]:
            reasons.append("PAINS")
        if cfg.remove_brenk and d["brenk"]:
            reasons.append("Brenk")
        if d["sa"] > cfg.max_sa:
            reasons.append("SA score")
        rows.append({"smiles": s, "count": seen[s], **d, "failed_stage": "drug-likeness" if reasons else "",
                     "reason": ", ".join(reasons)})
    table = pd.DataFrame(rows, columns=["smiles", "count", "mw", "logp", "hbd", "hba", "rotb", "tpsa", "qed", "sa",
                                        "lipinski_violations", "pains", "brenk", "failed_stage", "reason"])
    # a molecule failing several alerts is counted once, under its first reason
    stages.append(_stage("drug-likeness", len(table), [r.split(",")[0] for r in table["reason"]]))
    alive = table["failed_stage"] == ""
    if train_smiles is not None and cfg.require_novel:
        train_set = set(train_smiles)
        # a training SMILES (MOSES ships RDKit canonical, not standardised, forms) matches either form
        in_train = table["smiles"].map(lambda m: m in train_set or bool(raw_forms[m] & train_set))
        known_mask = alive & in_train
        table.loc[known_mask, ["failed_stage", "reason"]] = ["novelty", "in training set"]
        stages.append(FunnelStage("novel", int(alive.sum()), int(alive.sum() - known_mask.sum()),
                                  {"in training set": int(known_mask.sum())} if known_mask.any() else {}))
        alive = table["failed_stage"] == ""
    train_all = set(train_smiles or [])
    table["novel"] = ~table["smiles"].map(lambda m: m in train_all or bool(raw_forms[m] & train_all))
    idx = np.flatnonzero(alive.to_numpy())
    surv = table["smiles"].iloc[idx].tolist()
    for name, model in predictors.items():
        table[f"pred_{name}"] = np.nan
        table[f"sd_{name}"] = np.nan
        if surv:
            res = model.predict_with_uncertainty(surv)
            table.loc[table.index[idx], f"pred_{name}"] = res.mean[:, 0]
            table.loc[table.index[idx], f"sd_{name}"] = np.sqrt(res.variance[:, 0])
    bad = alive & table[[f"pred_{n}" for n in predictors]].isna().any(axis=1) if predictors else alive & False
    table.loc[bad, ["failed_stage", "reason"]] = ["prediction", "no prediction"]
    stages.append(FunnelStage("predicted", int(alive.sum()), int(alive.sum() - bad.sum()),
                              {"no prediction": int(bad.sum())} if bad.any() else {}))
    alive = table["failed_stage"] == ""
    table["score"] = np.nan
    if alive.any():
        score = np.zeros(int(alive.sum()))
        for o in objs:
            col = f"pred_{o.name}" if o.name in predictors else o.name
            v = table.loc[alive, col].to_numpy(dtype=float)
            sd = table.loc[alive, f"sd_{o.name}"].fillna(0).to_numpy() if o.name in predictors else 0.0
            lcb = o.direction * v - cfg.kappa * sd  # uncertain predictions rank lower
            spread = np.std(lcb) if np.std(lcb) > 0 else 1.0
            score += o.weight * (lcb - np.mean(lcb)) / spread  # z-score so objectives on different scales mix
        table.loc[alive, "score"] = score
    table["rank"] = table["score"].rank(ascending=False, method="first")
    return FunnelResult(stages, table, std.report_rows(), objs)
