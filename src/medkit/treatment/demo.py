"""``medkit demo`` entry for the treatment pillar: a fast, reduced version of the full workflow.

Reduced settings (the full ones are in benchmarks/treatment.py): ACTG 175 with T/DR learners, a 100-tree
causal forest and a 30-epoch TARNet, 5-fold CV, 500 bootstrap resamples; GDSC2 on one fold of held-out
entries and one fold of held-out cell lines, hybrid trained for 3 epochs.
"""

from __future__ import annotations

from pathlib import Path

from medkit.core.demo import DemoResult


def demo_config(out_dir: Path, seed: int = 0, data_dir: Path | None = None) -> object:
    from medkit.treatment.workflow import ActgConfig, CFConfig, TreatmentRunConfig

    return TreatmentRunConfig(
        name="treatment-demo", seed=seed, runs_dir=Path(out_dir), data_dir=data_dir,
        actg=ActgConfig(learners=["t-learner", "dr-learner", "causal-forest", "tarnet"], n_boot=500,
                        tarnet_epochs=30, forest_trees=100, policy_n_boot=20),
        cf=CFConfig(models=["user-knn", "knn-means", "mf", "hybrid"], max_folds=1, hybrid_epochs=3),
    )


def run_demo(out_dir: Path, *, seed: int = 0, data_dir: Path | None = None) -> DemoResult:
    """Run the reduced workflow; GDSC2 is skipped (noted in the report) when the data directory lacks it."""
    import torch
    from threadpoolctl import threadpool_limits

    from medkit.treatment.workflow import headline, run_treatment

    torch.set_num_threads(1)
    # One BLAS/OpenMP thread: gradient boosting oversubscribes small shared machines badly (10x slower measured).
    with threadpool_limits(1):
        run, metrics = run_treatment(demo_config(Path(out_dir), seed, data_dir))  # type: ignore[arg-type]
    return DemoResult(
        title="Treatment: ACTG 175 treatment rules (S/T/X/DR, causal forest, TARNet) and GDSC2 drug-response CF",
        report=run.path / "report.html", summary=headline(metrics), run_dir=run.path,
    )
