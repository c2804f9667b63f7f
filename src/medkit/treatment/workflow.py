"""Personalised treatment workflow: ACTG 175 treatment rules + GDSC2 collaborative filtering → run dir + report.

``run_treatment(cfg)`` (``medkit treatment train``/``evaluate``, ``medkit demo``):

1. ACTG 175 (CD4 at 20 weeks): cross-validated S/T/X/DR learners, causal forest, TARNet and the conservative
   policy; DR/IPW policy values with bootstrap CIs vs best single arm and random assignment; Qini curves and
   effect calibration per contrast vs ZDV.
2. A conservative policy fitted on all patients is saved as a model bundle (``bundle/``) for
   ``medkit treatment recommend`` and ``medkit serve``.
3. GDSC2 (if the data directory has it): kNN / MF / hybrid CF on held-out entries and hybrid vs kNN
   covariate fallback vs drug mean on held-out cell lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.errors import DataError
from medkit.core.logging import get_logger
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything
from medkit.data import load_dataset
from medkit.reporting import Report
from medkit.treatment.features import ACTG_ARMS, ACTG_COVARIATES

log = get_logger("medkit.treatment.workflow")


class ActgConfig(StrictModel):
    outcome: str = "cd420"
    covariates: list[str] = list(ACTG_COVARIATES)  # baseline only; post-outcome columns are refused
    learners: list[str] = ["s-learner", "t-learner", "x-learner", "dr-learner", "causal-forest", "tarnet"]
    base: str = "gbm"
    reference: int = Field(0, ge=0)
    n_splits: int = Field(5, ge=2)
    n_boot: int = Field(1000, ge=0)
    policy_base: str = "ridge"
    policy_n_boot: int = Field(30, ge=10)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    tarnet_epochs: int = Field(60, ge=1)
    forest_trees: int = Field(200, ge=10)


class CFConfig(StrictModel):
    enabled: bool = True
    models: list[str] = ["user-knn", "item-knn", "knn-means", "mf", "hybrid"]
    n_splits: int = Field(5, ge=2)
    n_repeats: int = Field(1, ge=1)
    max_folds: int | None = Field(None, ge=1)
    cold_start: bool = True
    hybrid_epochs: int = Field(10, ge=1)


class TreatmentRunConfig(StrictModel):
    """``medkit treatment train --config`` TOML; every key has a default."""

    name: str = "treatment"
    seed: int = Field(0, ge=0)
    runs_dir: Path = Path("runs")
    data_dir: Path | None = None
    allow_quality_warnings: bool = False
    actg: ActgConfig = ActgConfig()
    cf: CFConfig = CFConfig()


def make_learners(cfg: ActgConfig, seed: int) -> dict[str, Any]:
    from medkit.core.errors import ConfigError
    from medkit.treatment.learners import LEARNERS, CausalForestLearner
    from medkit.treatment.neural import TARNetLearner

    out: dict[str, Any] = {}
    for name in cfg.learners:
        if name == "tarnet":
            out[name] = TARNetLearner(max_epochs=cfg.tarnet_epochs, reference=cfg.reference, seed=seed)
        elif name == "dragonnet":
            out[name] = TARNetLearner(max_epochs=cfg.tarnet_epochs, propensity_weight=1.0, reference=cfg.reference,
                                      seed=seed)
        elif name == "causal-forest":
            out[name] = CausalForestLearner(n_estimators=cfg.forest_trees, reference=cfg.reference, seed=seed)
        elif name in LEARNERS:
            out[name] = LEARNERS[name](base=cfg.base, reference=cfg.reference, seed=seed)
        else:
            raise ConfigError(f"unknown learner '{name}'", where="actg.learners",
                              fix=f"use any of {', '.join([*LEARNERS, 'tarnet', 'dragonnet'])}")
    return out


def make_cf_models(names: list[str], seed: int, hybrid_epochs: int) -> dict[str, Any]:
    from medkit.core.errors import ConfigError
    from medkit.treatment.hybrid import HybridNCF
    from medkit.treatment.knn import KNNRegressor
    from medkit.treatment.mf import ALSMF, BiasedMF

    known: dict[str, Any] = {
        "user-knn": KNNRegressor(k=40, min_k=1, sim="pearson", user_based=True),
        "item-knn": KNNRegressor(k=40, min_k=1, sim="pearson", user_based=False),
        "knn-means": KNNRegressor(k=40, min_k=1, sim="pearson", user_based=True, centering="mean"),
        "knn-baseline": KNNRegressor(k=40, sim="pearson_baseline", centering="baseline"),
        "mf": ALSMF(seed=seed),
        "mf-sgd": BiasedMF(seed=seed),
        "hybrid": HybridNCF(max_epochs=hybrid_epochs, seed=seed),
    }
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"unknown CF model '{bad[0]}'", where="cf.models", fix=f"use any of {', '.join(known)}")
    return {n: known[n] for n in names}


def run_actg(cfg: TreatmentRunConfig, run: RunDir, report: Report) -> dict[str, Any]:
    from medkit.evaluation.plots import save
    from medkit.treatment.effects_eval import evaluate_policies
    from medkit.treatment.plots import effect_calibration_plot, policy_value_plot, qini_plot
    from medkit.treatment.policy import ConservativePolicy
    from medkit.treatment.serving import save_bundle
    from medkit.treatment.trust import actg_quality_gate, quality_text

    a_cfg = cfg.actg
    ds = load_dataset("actg175")
    df = ds.data
    # Quality gate before any model is fitted: errors always stop the run, warnings unless allowed.
    quality = actg_quality_gate(df, a_cfg.covariates, a_cfg.outcome, run, allow_warnings=cfg.allow_quality_warnings)
    X, a, y = df[a_cfg.covariates], df["arms"].to_numpy(), df[a_cfg.outcome].to_numpy(dtype=float)
    policy = ConservativePolicy(base=a_cfg.policy_base, n_boot=a_cfg.policy_n_boot, alpha=a_cfg.alpha, seed=cfg.seed)
    ev = evaluate_policies(X, a, y, make_learners(a_cfg, cfg.seed), policy=policy, reference=a_cfg.reference,
                           n_splits=a_cfg.n_splits, seed=cfg.seed, n_boot=a_cfg.n_boot, nuisance=a_cfg.base)
    plots = run.sub("plots")
    pv = save(policy_value_plot(ev.values), plots / "policy_values.png")
    final = ConservativePolicy(base=a_cfg.policy_base, n_boot=a_cfg.policy_n_boot, alpha=a_cfg.alpha,
                               seed=cfg.seed).fit(X, a, y)
    vals = {v.name: v.as_dict() for v in ev.values}
    bundle = save_bundle(run.path / "bundle", final, name=f"{cfg.name}-actg175-conservative", arm_names=ACTG_ARMS,
                         reference=a_cfg.reference, outcome=a_cfg.outcome, unit="cells/mm³",
                         metrics={"policy_value_dr": vals["conservative-policy"]["dr"],
                                  "best_single_arm_dr": vals["best-single-arm"]["dr"]}, run_dir=str(run.path))
    best = ev.vs_best["conservative-policy"]
    s = report.section("ACTG 175: which antiretroviral regimen for whom?")
    s.text(f"{len(y)} randomised patients, outcome {a_cfg.outcome} (CD4 cells/mm³ at 20±5 weeks), "
           f"{a_cfg.n_splits}-fold cross-validation; best single arm in every training fold: "
           f"{', '.join(ACTG_ARMS[b] for b in ev.best_arm_per_fold)}. The conservative policy keeps the best arm "
           f"unless another arm's benefit is positive at the one-sided {1 - a_cfg.alpha:.0%} level; it switched "
           f"{ev.switched:.1%} of held-out patients. Its DR value minus the best single arm's: "
           f"{best.dr:+.1f} (95% CI {best.dr_ci[0]:+.1f} to {best.dr_ci[1]:+.1f}) cells/mm³ — "
           + ("personalisation adds value here." if best.dr_ci[0] > 0 else
              "no evidence that personalisation beats giving everyone the best single arm."))
    s.text(quality_text(quality))
    s.link("quality.html", "Data-quality report")
    s.link("model_card.html", "Model card and TRIPOD+AI checklist")
    s.table(ev.value_table(), caption="Policy values on held-out patients (95% bootstrap CI); "
                                      "differences are paired bootstrap")
    s.figure(pv, "Doubly-robust and IPW policy values")
    for arm_code in ev.arms:
        if arm_code == a_cfg.reference:
            continue
        name = f"{ACTG_ARMS.get(int(arm_code), arm_code)} vs {ACTG_ARMS.get(a_cfg.reference)}"
        q = {k[0]: c for k, c in ev.qini.items() if k[1] == arm_code}
        c = {k[0]: c for k, c in ev.calibration.items() if k[1] == arm_code}
        qp = save(qini_plot(q, f"Qini: {name}"), plots / f"qini_arm{arm_code}.png")
        cp = save(effect_calibration_plot(c, f"Effect calibration: {name}"), plots / f"effect_cal_arm{arm_code}.png")
        sec = report.section(f"Contrast {name}")
        sec.figure(qp, "Qini curves of out-of-fold predicted effects (area above the dashed line = useful ranking)")
        sec.figure(cp, "Predicted vs observed effect in quintiles of predicted effect")
    secs = {k: round(v, 2) for k, v in ev.seconds.items()}
    return {"policy_values": vals, "vs_best_single_arm": {k: v.as_dict() for k, v in ev.vs_best.items()},
            "vs_random": {k: v.as_dict() for k, v in ev.vs_random.items()}, "switched_share": ev.switched,
            "qini_coefficient": {f"{k[0]}:{k[1]}": c.coefficient for k, c in ev.qini.items()},
            "effect_calibration_slope": {f"{k[0]}:{k[1]}": c.slope for k, c in ev.calibration.items()},
            "fit_seconds": secs, "bundle": str(bundle), "provenance": ds.provenance()}


def run_gdsc(cfg: TreatmentRunConfig, run: RunDir, report: Report) -> dict[str, Any]:
    from medkit.evaluation.plots import save
    from medkit.treatment.cf_eval import cf_folds, cross_validate_cf, treatment_mean
    from medkit.treatment.features import cell_line_features, gdsc2_long, morgan_fingerprints
    from medkit.treatment.knn import KNNRegressor
    from medkit.treatment.plots import cf_bar_plot

    c = cfg.cf
    ds = load_dataset("gdsc2", data_dir=cfg.data_dir)
    X, y = gdsc2_long(ds.data["response"])
    from medkit.treatment.trust import gdsc_quality_gate, quality_text

    quality = gdsc_quality_gate(X, y, run, allow_warnings=cfg.allow_quality_warnings)
    Fe = cell_line_features(ds.data["mutations"], ds.data["cell_lines"])
    Ft = morgan_fingerprints(list(ds.data["smiles"]))
    models: dict[str, Any] = make_cf_models(c.models, cfg.seed, c.hybrid_epochs)
    models["drug-mean"] = treatment_mean
    feats = {"hybrid": {"entity_features": Fe, "treatment_features": Ft}}
    out: dict[str, Any] = {"provenance": ds.provenance()}
    plots = run.sub("plots")
    sec = report.section("GDSC2: collaborative filtering of drug response (ln IC50)")
    sec.text(f"{len(y):,} observed (cell line, drug) pairs, {X[:, 0].max() + 1} cell lines × {X[:, 1].max() + 1} drugs. "
             "Lower ln(IC50) = more sensitive; ranking metrics rank each line's held-out drugs by predicted "
             "sensitivity. Bands: ±1.96 SE across folds (indicative).")
    sec.text(quality_text(quality))
    sec.link("quality_gdsc2.html", "Data-quality report (GDSC2)")
    splits = [("entries", models)]
    if c.cold_start:
        cold = {"hybrid": models["hybrid"]} if "hybrid" in models else {}
        cold["knn-covariates"] = KNNRegressor(k=40)
        cold["drug-mean"] = treatment_mean
        feats["knn-covariates"] = {"entity_features": Fe}
        splits.append(("entities", cold))
    for split, ms in splits:
        folds = cf_folds(X, split, c.n_splits, c.n_repeats, cfg.seed)[: c.max_folds]
        res = cross_validate_cf(ms, X, y, folds=folds, fit_kwargs=feats, higher_is_better=False)
        summ = {m: r.summary() for m, r in res.items()}
        out[split] = summ
        rows = [{"model": m, **{k: f"{v[0]:.3f} ({v[1]:.3f}–{v[2]:.3f})" for k, v in s_.items()}}
                for m, s_ in summ.items()]
        label = "held-out entries" if split == "entries" else "held-out cell lines (cold start)"
        sec.table(rows, caption=f"{label}, {len(folds)} folds")
        fig = cf_bar_plot([(m, s_["rmse"][0], s_["rmse"][1], s_["rmse"][2]) for m, s_ in summ.items()],
                          f"RMSE, {label}", "RMSE of ln(IC50)")
        sec.figure(save(fig, plots / f"cf_rmse_{split}.png"), f"RMSE on {label}")
    return out


def run_treatment(cfg: TreatmentRunConfig) -> tuple[RunDir, dict[str, Any]]:
    """Run the workflow; returns the run directory and the metrics dict."""
    seed_everything(cfg.seed)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    report = Report(f"{cfg.name}: personalised treatment recommendation",
                    subtitle="ACTG 175 treatment rules and GDSC2 drug-response collaborative filtering",
                    meta={"run": run.path.name, "seed": str(cfg.seed)})
    metrics: dict[str, Any] = {"actg175": run_actg(cfg, run, report)}
    prov = [metrics["actg175"].pop("provenance")]
    if cfg.cf.enabled:
        try:
            metrics["gdsc2"] = run_gdsc(cfg, run, report)
            prov.append(metrics["gdsc2"].pop("provenance"))
        except DataError as exc:
            log.warning("GDSC2 part skipped: %s", exc)
            metrics["gdsc2"] = {"skipped": str(exc)}
            report.section("GDSC2: skipped").text(f"The drug-response data were not found: {exc}")
    run.save_datasets(prov)
    run.save_metrics(metrics)
    from medkit.treatment.trust import write_treatment_card

    write_treatment_card(run, metrics)
    s = report.section("Provenance and limitations")
    s.table([{k: v for k, v in p.items() if k != "files"} for p in prov], caption="Datasets read (sha256 of each file)")
    s.text("Intervals for expected outcomes are bootstrap intervals of the model's mean (model uncertainty), not "
           "prediction intervals for an individual's measured CD4. ACTG 175 is a 1990s HIV trial of regimens no "
           "longer used; it is a methods testbed, not clinical guidance.")
    report.write(run.path / "report.html")
    return run, metrics


def headline(metrics: dict[str, Any]) -> str:
    """One-line summary for the CLI and demo index."""
    a = metrics["actg175"]
    v, d = a["policy_values"]["conservative-policy"], a["vs_best_single_arm"]["conservative-policy"]
    b = a["policy_values"]["best-single-arm"]
    txt = (f"ACTG 175: conservative policy DR value {v['dr']:.1f} (95% CI {v['dr_ci'][0]:.1f}–{v['dr_ci'][1]:.1f}) "
           f"vs best single arm {b['dr']:.1f}; difference {d['dr']:+.1f} ({d['dr_ci'][0]:+.1f} to {d['dr_ci'][1]:+.1f})"
           " cells/mm³.")
    g = metrics.get("gdsc2", {})
    if "entries" in g:
        best = min(g["entries"].items(), key=lambda kv: kv[1]["rmse"][0])
        txt += f" GDSC2: best held-out-entry RMSE {best[1]['rmse'][0]:.3f} ({best[0]})."
    return txt


def as_float(x: Any) -> float:
    return float(np.asarray(x))


def train_bundle(cfg: TreatmentRunConfig, out: Path | None = None) -> tuple[RunDir, Path]:
    """Fit the conservative policy on all ACTG 175 patients and write a bundle (no cross-validation)."""
    from medkit.treatment.policy import ConservativePolicy
    from medkit.treatment.serving import save_bundle

    seed_everything(cfg.seed)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    from medkit.treatment.trust import actg_quality_gate, write_treatment_card

    ds = load_dataset("actg175")
    run.save_datasets([ds.provenance()])
    df = ds.data
    a_cfg = cfg.actg
    actg_quality_gate(df, a_cfg.covariates, a_cfg.outcome, run, allow_warnings=cfg.allow_quality_warnings)
    policy = ConservativePolicy(base=a_cfg.policy_base, n_boot=a_cfg.policy_n_boot, alpha=a_cfg.alpha,
                                seed=cfg.seed).fit(df[a_cfg.covariates], df["arms"], df[a_cfg.outcome])
    means = {ACTG_ARMS[int(k)]: float(m) for k, m in zip(policy.arms_, policy.arm_means_, strict=True)}
    run.save_metrics({"arm_means_in_sample": means, "default_arm": ACTG_ARMS[policy.default_arm_]})
    bundle = save_bundle(out or run.path / "bundle", policy, name=f"{cfg.name}-actg175-conservative",
                         arm_names=ACTG_ARMS, reference=a_cfg.reference, outcome=a_cfg.outcome, unit="cells/mm³",
                         metrics={"arm_means_in_sample": means}, run_dir=str(run.path))
    write_treatment_card(run, {})
    return run, bundle
