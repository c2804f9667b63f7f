"""TRIPOD+AI checklist filled from what a run directory knows.

TRIPOD+AI (Collins GS et al. BMJ 2024;385:e078378) is the reporting guideline for clinical prediction
models built with regression or machine learning. Each item is marked

* ``done`` — the run directory holds the evidence (quoted in ``evidence``);
* ``not applicable`` — with the reason (e.g. no class-imbalance method was used);
* ``needs author input`` — only the study team can write it (ethics approval, funding, setting, dates).

Item texts below are short paraphrases; consult the published checklist for the full wording. Author
answers come from ``author`` (``{item_id: text}``), e.g. read from ``model_card_info.json`` in the run
directory; an author answer always marks the item ``done``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["done", "not applicable", "needs author input"]

#: (id, section, paraphrased item)
ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1", "Title", "Identify the study as developing/evaluating a prediction model, the population and the outcome"),
    ("2", "Abstract", "Structured abstract (TRIPOD+AI for Abstracts)"),
    ("3a", "Background", "Healthcare context, diagnostic or prognostic, rationale, existing models"),
    ("3b", "Background", "Target population, intended purpose in the care pathway, intended users"),
    ("3c", "Background", "Known health inequalities between sociodemographic groups"),
    ("4", "Objectives", "Objectives: development and/or validation"),
    ("5a", "Data", "Data sources for development and evaluation, rationale, representativeness"),
    ("5b", "Data", "Dates of data collection, accrual and follow-up"),
    ("6a", "Participants", "Setting (primary/secondary care), number and location of centres"),
    ("6b", "Participants", "Eligibility criteria"),
    ("6c", "Participants", "Treatments received and how they were handled"),
    ("7", "Data preparation", "Pre-processing and data-quality checking, incl. across sociodemographic groups"),
    ("8a", "Outcome", "Outcome definition, time horizon, how/when assessed"),
    ("8b", "Outcome", "Qualifications/demographics of outcome assessors if subjective"),
    ("8c", "Outcome", "Blinding of outcome assessment"),
    ("9a", "Predictors", "Choice and pre-selection of initial predictors"),
    ("9b", "Predictors", "Definition of all predictors, how and when measured"),
    ("9c", "Predictors", "Qualifications of predictor assessors if subjective"),
    ("10", "Sample size", "How the study size was arrived at and why it is sufficient"),
    ("11", "Missing data", "How missing data were handled"),
    ("12a", "Analysis", "How the data were used/partitioned for development and evaluation"),
    ("12b", "Analysis", "Handling of predictors (functional form, rescaling, standardisation)"),
    ("12c", "Analysis", "Model type, rationale, building steps, hyperparameter tuning, internal validation"),
    ("12d", "Analysis", "Heterogeneity across clusters (hospitals, countries)"),
    ("12e", "Analysis", "Performance measures and plots (discrimination, calibration, clinical utility)"),
    ("12f", "Analysis", "Model updating (e.g. recalibration)"),
    ("12g", "Analysis", "How predictions were calculated for evaluation (formula, code, object, API)"),
    ("13", "Class imbalance", "Class-imbalance methods, why, and subsequent recalibration"),
    ("14", "Fairness", "Approaches used to address model fairness"),
    ("15", "Model output", "Output (probabilities, classes) and how any thresholds were chosen"),
    ("16", "Training vs evaluation", "Differences between development and evaluation data"),
    ("17", "Ethics", "Ethics committee approval and consent or waiver"),
    ("18a", "Open science", "Funding"),
    ("18b", "Open science", "Conflicts of interest"),
    ("18c", "Open science", "Protocol availability"),
    ("18d", "Open science", "Study registration"),
    ("18e", "Open science", "Data availability"),
    ("18f", "Open science", "Code availability"),
    ("19", "Patient & public involvement", "Patient and public involvement"),
    ("20a", "Participants (results)", "Flow of participants, numbers with/without the outcome, follow-up"),
    ("20b", "Participants (results)", "Characteristics overall and per source, incl. missing data and demographics"),
    ("20c", "Participants (results)", "Evaluation vs development data: distribution of key predictors and outcome"),
    ("21", "Model development", "Participants and outcome events in each analysis"),
    ("22", "Model specification", "Full model (formula/code/object/API) and access restrictions"),
    ("23a", "Model performance", "Performance with confidence intervals, incl. key subgroups"),
    ("23b", "Model performance", "Heterogeneity of performance across clusters"),
    ("24", "Model updating", "Results of any model updating"),
    ("25", "Interpretation", "Overall interpretation, incl. fairness"),
    ("26", "Limitations", "Limitations: sample, size, overfitting, missing data, generalisability"),
    ("27a", "Usability", "How poor-quality or unavailable input data should be handled in use"),
    ("27b", "Usability", "User interaction with the model and expertise required"),
    ("27c", "Usability", "Next steps for research, applicability and generalisability"),
)


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    section: str
    item: str
    status: Status
    evidence: str


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _rules(facts: dict[str, Any]) -> dict[str, Callable[[], tuple[Status, str] | None]]:
    """Per-item rule: (status, evidence) from the run's facts, or None → needs author input."""
    cfg = facts.get("config") or {}
    ds = facts.get("datasets") or []
    met = facts.get("metrics") or {}
    tr = facts.get("trust") or {}
    pooled = met.get("pooled_out_of_fold") or met.get("test") or {}
    n, events = facts.get("n"), facts.get("events")
    model_kind = _get(cfg, "config", "model", "kind")
    cv = met.get("cv")
    q = tr.get("quality")
    sub = tr.get("subgroups")
    recal = tr.get("recalibration")
    thr = tr.get("thresholds")
    external = bool(met.get("external") or tr.get("external"))
    demo = {str(r["attribute"]) for r in tr.get("attribute_summary", [])}

    def has_ci() -> bool:
        return any(isinstance(v, dict) and "ci_low" in v for v in pooled.values())

    return {
        "4": lambda: ("done", f"development with internal validation ({cv})") if cv else None,
        "5a": lambda: ("done", "; ".join(f"{d.get('name')}: {d.get('source')} ({d.get('citation', '')[:80]})"
                                         for d in ds)) if ds else None,
        "7": lambda: ("done", f"medkit quality checks: {q['n_errors']} errors, {q['n_warnings']} warnings "
                              f"({', '.join(q.get('checks_run', []))}); see quality.html") if q else None,
        "8a": lambda: ("done", facts["outcome"]) if facts.get("outcome") else None,
        "9a": lambda: ("done", f"all {facts['n_features']} available predictors, no pre-selection")
        if facts.get("n_features") else None,
        "10": lambda: ("needs author input", f"{n} participants, {events} events, {facts['n_features']} candidate "
                                             f"predictors ({events / facts['n_features']:.1f} events per predictor); "
                                             "the justification is the author's")
        if n and events and facts.get("n_features") else None,
        "11": lambda: ("done", facts["missing"]) if facts.get("missing") else None,
        "12a": lambda: ("done", f"{cv}; every patient in exactly one test fold") if cv else None,
        "12b": lambda: ("done", {"logistic": "median imputation, standardisation, linear in each predictor",
                                 "rf": "median imputation; trees need no rescaling",
                                 "gbm": "native handling of missing values; trees need no rescaling"}
                        .get(str(model_kind), str(model_kind))) if model_kind else None,
        "12c": lambda: ("done", f"model {model_kind} with {_get(cfg, 'config', 'model')}; no hyperparameter tuning; "
                                f"internal validation by {cv}") if model_kind and cv else None,
        "12d": lambda: None if facts.get("clusters") else ("not applicable", "single source, no clusters"),
        "12e": lambda: ("done", "discrimination (AUROC, AUPRC), calibration (slope, intercept, ECE, Brier, "
                                "reliability diagram)" + (", clinical utility (net benefit)" if thr else "")
                        + ", bootstrap 95% CIs") if pooled else None,
        "12f": lambda: ("done", "cross-fitted recalibration: " + ", ".join(r["method"] for r in recal))
        if recal else ("not applicable", "no model updating"),
        "12g": lambda: ("done", f"scikit-learn object {facts['model_file']} loaded by medkit "
                                f"{_get(facts, 'run', 'versions', 'medkit')}") if facts.get("model_file") else None,
        "13": lambda: ("not applicable", "no class-imbalance correction (no resampling or class weights)")
        if not _get(cfg, "config", "model", "class_weight") else None,
        "14": lambda: ("done", "performance by subgroup with CIs and flagged gaps (see subgroup table)")
        if sub else None,
        "15": lambda: ("done", "predicted probability of the outcome"
                       + (f"; thresholds: {', '.join(t['criterion'] for t in thr)}" if thr else
                          f"; fixed threshold {_get(cfg, 'config', 'evaluation', 'threshold')}")),
        "16": lambda: None if external else ("not applicable", "internal validation on the development data only"),
        "18e": lambda: ("done", "; ".join(f"{d.get('name')}: {d.get('licence')}" for d in ds))
        if ds and all(d.get("licence") for d in ds) else None,
        "18f": lambda: ("done", f"medkit {_get(facts, 'run', 'versions', 'medkit')} (open source) with "
                                "config.json in the run directory"),
        "20a": lambda: ("done", f"{n} participants, {events} with the outcome, {n - events} without")
        if n is not None and events is not None else None,
        "20b": lambda: (("done" if demo & {"sex", "age band", "race", "ethnicity"} else "needs author input"),
                        f"population table by {', '.join(sorted(demo))}; missing data in quality.html"
                        + ("" if demo & {"sex", "age band", "race", "ethnicity"} else "; no demographics available"))
        if demo else None,
        "20c": lambda: None if external else ("not applicable", "no separate evaluation data (cross-validation)"),
        "21": lambda: ("done", "; ".join(f"fold {f['fold']}: n={f['n_test']}" for f in met.get("folds", [])))
        if met.get("folds") else None,
        "22": lambda: ("done", f"fitted model saved as {facts['model_file']} with its feature list")
        if facts.get("model_file") else None,
        "23a": lambda: (("done", "metrics with bootstrap 95% CIs" + (" incl. subgroups" if sub else "")) if sub else
                        ("needs author input", "overall metrics have bootstrap CIs; no subgroup attributes were "
                                               "available, so subgroup performance is not reported"))
        if has_ci() else None,
        "23b": lambda: None if facts.get("clusters") else ("not applicable", "single source, no clusters"),
        "24": lambda: ("done", "; ".join(f"{r['method']}: slope {r['before']['slope']:.2f}→{r['after']['slope']:.2f}, "
                                         f"Brier {r['before']['brier']:.4f}→{r['after']['brier']:.4f}" for r in recal))
        if recal else ("not applicable", "no model updating"),
        "27a": lambda: ("done", "inputs are validated against the declared schema and the data-quality gate; "
                                "bad values raise errors naming row and column instead of being imputed silently"),
    }


def fill_checklist(facts: dict[str, Any], author: dict[str, str] | None = None) -> list[ChecklistItem]:
    """Fill every TRIPOD+AI item from ``facts`` (see :func:`medkit.reporting.model_card.collect_facts`)."""
    rules = _rules(facts)
    author = author or {}
    out = []
    for item_id, section, text in ITEMS:
        if author.get(item_id):
            out.append(ChecklistItem(item_id, section, text, "done", f"author: {author[item_id]}"))
            continue
        rule = rules.get(item_id)
        res = rule() if rule is not None else None
        if res is None:
            out.append(ChecklistItem(item_id, section, text, "needs author input", ""))
        else:
            out.append(ChecklistItem(item_id, section, text, res[0], res[1]))
    return out


def checklist_markdown(items: list[ChecklistItem]) -> str:
    counts = {s: sum(i.status == s for i in items) for s in ("done", "not applicable", "needs author input")}
    lines = ["| item | section | status | evidence |", "| --- | --- | --- | --- |"]
    for i in items:
        ev = i.evidence.replace("|", "/").replace("\n", " ")
        lines.append(f"| {i.id} | {i.section}: {i.item} | {i.status} | {ev} |")
    head = (f"TRIPOD+AI (Collins et al. BMJ 2024;385:e078378): {counts['done']} done, {counts['not applicable']} not "
            f"applicable, {counts['needs author input']} need author input.\n\n")
    return head + "\n".join(lines) + "\n"


def checklist_json(items: list[ChecklistItem]) -> list[dict[str, str]]:
    return [asdict(i) for i in items]
