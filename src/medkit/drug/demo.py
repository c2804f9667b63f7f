"""``medkit demo`` drug workflow: train a small CharRNN in-run on MOSES, generate, score, screen, report.

Sized to run in a few minutes on 2 CPU cores, so the generator is undertrained (a few thousand molecules, a few
epochs): the report says so and prints the published MOSES numbers of a fully trained CharRNN beside ours.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from medkit.core.demo import DemoResult
from medkit.core.errors import DataError
from medkit.core.logging import get_logger

log = get_logger("medkit.drug.demo")

# MOSES paper, Table 2 (Polykovskiy et al. 2020), CharRNN row
MOSES_CHARRNN = {"validity": 0.975, "unique@10k": 0.999, "novelty": 0.842, "fcd/test": 0.073, "snn/test": 0.601,
                 "frag/test": 1.000, "scaf/test": 0.924, "intdiv": 0.856, "filters": 0.994}


def run_demo(out_dir: str | Path, *, seed: int = 0, data_dir: str | Path | None = None, n_train: int = 6000,
             epochs: int = 2, n_samples: int = 2000, temperature: float = 0.7) -> DemoResult:
    import torch

    from medkit.core.runs import RunDir
    from medkit.core.seed import seed_everything
    from medkit.data import load_dataset
    from medkit.drug.batching import bf16_supported
    from medkit.drug.charrnn import CharRNNGenerator
    from medkit.drug.chem import canonical
    from medkit.drug.funnel import FunnelConfig, Objective, run_funnel
    from medkit.drug.metrics import evaluate_generation, random_rows, reference_stats
    from medkit.drug.report import property_frame, write_screen_report

    torch.set_num_threads(1)  # the shared 2-core box: more threads oversubscribe and run slower
    seed_everything(seed)
    t0 = time.perf_counter()
    run = RunDir.create("drug-demo", Path(out_dir))
    train_ds = load_dataset("moses", split="train")
    test_ds = load_dataset("moses", split="test")
    run.save_datasets([train_ds.provenance(), test_ds.provenance()])
    # random rows, not the first ones: the MOSES files are not in random order (see metrics.moses_sample)
    train_smiles = random_rows(train_ds.data, n_train, seed)
    test_smiles = random_rows(test_ds.data, 1000, seed)
    # small batches: on CPU the number of optimiser steps, not batch size, limits how fast the LSTM learns.
    # MOSES is canonical already (no RDKit standardisation needed); bf16 where the CPU has native bf16 units.
    gen = CharRNNGenerator(hidden=256, layers=1, epochs=epochs, batch_size=16, lr=3e-3, max_len=60, seed=seed,
                           progress=False, standardise=False, precision="bf16" if bf16_supported() else "fp32",
                           checkpoint_dir=str(run.sub("checkpoints")))
    gen.fit(train_smiles)
    gen.save(run.sub("generator"))
    samples = gen.sample(n_samples, temperature=temperature, seed=seed, progress=False)
    train_canon = {c for c in map(canonical, train_smiles) if c}
    gm = evaluate_generation(samples, train=train_canon, test=reference_stats(test_smiles), ks=(1000,))
    run.write_json("generation_metrics.json", {"ours": gm.as_dict(), "moses_paper_charrnn": MOSES_CHARRNN,
                                               "training": {"n_train": n_train, "epochs": epochs,
                                                            "history": gen.result_.history}})
    predictors: dict[str, Any] = {}
    notes: list[dict[str, Any]] = []
    objectives = [Objective(name="qed")]
    skip_note = ""
    try:
        predictors, notes = _esol_predictor(seed, data_dir)
        from medkit.drug.workflow import save_property_bundle

        save_property_bundle(predictors["log_solubility"], run.path / "bundle", name="esol-rf-demo",
                             task_type="regression", metrics={"test_rmse": notes[0]["test_rmse"]}, run_dir=run.path,
                             extra={"model": "rf", "dataset": "esol"})
        objectives.append(Objective(name="log_solubility", direction=1, weight=0.5))
    except DataError as exc:
        skip_note = f"ESOL predictor skipped: {exc.what}. Pass --data-dir with the moleculenet folder to add it."
        log.warning(skip_note)
    result = run_funnel(samples, train_smiles=train_canon, predictors=predictors, objectives=objectives,
                        config=FunnelConfig(top_k=12))
    result.table.to_csv(run.path / "screen.csv", index=False)
    run.save_metrics({"generation": gm.as_dict(), "funnel": result.counts(), "predictors": notes,
                      "seconds": time.perf_counter() - t0})
    train_props = property_frame(train_smiles[:1000])
    extra = (f"Generator: CharRNN (1×256 LSTM) trained in-run for {epochs} epochs on {n_train} MOSES molecules, "
             f"{n_samples} samples at temperature {temperature}. A fully trained MOSES CharRNN reaches validity "
             f"{MOSES_CHARRNN['validity']}, novelty {MOSES_CHARRNN['novelty']}, FCD/Test {MOSES_CHARRNN['fcd/test']}"
             " (Polykovskiy et al. 2020); this demo model is deliberately small. " + skip_note)
    report = write_screen_report(run.path / "report.html", result, title="Drug discovery: generate → screen → rank",
                                 subtitle="CharRNN on MOSES, ESOL solubility predictor, drug-likeness funnel",
                                 train_props=train_props, gen_metrics=gm, predictor_notes=notes, extra_text=extra,
                                 meta={"run": run.path.name, "seed": str(seed)})
    ranked = len(result.ranked)
    summary = (f"CharRNN ({n_train} MOSES molecules, {epochs} epochs): validity {gm.validity:.2f}, "
               f"novelty {gm.novelty or float('nan'):.2f}, FCD/Test {gm.fcd_test or float('nan'):.1f}; "
               f"{ranked} of {n_samples} candidates pass the funnel.")
    if notes:
        summary += f" ESOL predictor test RMSE {notes[0]['test_rmse']:.2f} log mol/L (scaffold split)."
    return DemoResult("Drug discovery: generation and screening", report, summary, run_dir=run.path)


def _esol_predictor(seed: int, data_dir: str | Path | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import numpy as np

    from medkit.data import load_dataset
    from medkit.data.scaffold import scaffold_split
    from medkit.drug.predictors import FingerprintModel
    from medkit.drug.workflow import evaluate_predictions

    ds = load_dataset("esol", data_dir=data_dir)
    smi, y = list(ds.X), np.asarray(ds.y)
    sp = scaffold_split(smi, seed=seed)
    model = FingerprintModel(task_type="regression", model="rf", n_estimators=100, seed=seed)
    model.tasks_ = ["log_solubility"]
    model.fit([smi[i] for i in sp.train], y[sp.train])
    p = model.predict_with_uncertainty([smi[i] for i in sp.test]).mean
    ev = evaluate_predictions(y[sp.test], p, ["log_solubility"], "regression", n_boot=200, seed=seed)
    r = ev["log_solubility"]["rmse"]
    note = {"predictor": "log_solubility (ESOL)", "model": "Morgan counts + random forest (100 trees)",
            "split": "scaffold 80/10/10", "n_test": len(sp.test), "test_rmse": r["value"],
            "95% CI": f"{r['ci_low']:.2f}–{r['ci_high']:.2f}", "uncertainty": "variance across trees"}
    return {"log_solubility": model}, [note]
