"""Evaluate a saved imaging bundle on a registered dataset (``medkit imaging evaluate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.errors import ConfigError
from medkit.core.runs import dumps

__all__ = ["evaluate_bundle"]


def evaluate_bundle(bundle_dir: str | Path, dataset: str | None = None, *, split: str = "test",
                    data_dir: str | Path | None = None, n_boot: int = 1000, seed: int = 0,
                    out: str | Path | None = None) -> dict[str, Any]:
    """Metrics with 95 % CIs of a bundle on ``dataset``/``split``; written to ``out/metrics.json`` if given.

    Classifier bundles: ``br35h`` (fixed split). Segmenter bundles: ``drive`` (``test``/``train``) or
    ``chase_db1``. Per-image tables are written next to the metrics.
    """
    from medkit.imaging.bundle import load_estimator
    from medkit.imaging.classifier import ImageClassifier

    info, est = load_estimator(bundle_dir)
    dataset = dataset or info.extra.get("dataset") or ("br35h" if info.kind == "classifier" else "drive")
    outp = Path(out) if out else None
    if outp:
        outp.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"bundle": str(bundle_dir), "dataset": dataset, "split": split}
    if info.kind == "classifier":
        if dataset != "br35h":
            raise ConfigError(f"classifier bundles are evaluated on 'br35h', not '{dataset}'", where="--dataset",
                              fix="use --dataset br35h")
        from medkit.data.imaging_sets import br35h_split
        from medkit.evaluation import binary_report
        from medkit.imaging.prep import load_resized

        df = br35h_split(data_dir)
        part = df[df.split == split]
        x = load_resized(part["path"].tolist(), int(info.preprocessing["image_size"])).array
        assert isinstance(est, ImageClassifier)
        p = est.predict_proba(x)[:, 1]
        y = part["label"].to_numpy()
        result["metrics"] = {k: v.as_dict() for k, v in binary_report(y, p, n_boot=n_boot, seed=seed).items()}
        result["n"] = int(len(y))
        if outp:
            part.assign(p_tumour=p)[["name", "label", "p_tumour"]].to_csv(outp / "per_image.csv", index=False)
    else:
        from medkit.data import load_dataset
        from medkit.imaging.segment_workflow import evaluate_cases, observer_agreement

        if dataset not in {"drive", "chase_db1"}:
            raise ConfigError(f"segmenter bundles are evaluated on 'drive' or 'chase_db1', not '{dataset}'",
                              where="--dataset", fix="use --dataset drive or chase_db1")
        ds = load_dataset(dataset, data_dir=data_dir)
        cases = ds.data["test" if dataset == "chase_db1" else split]
        table, summary, _, ips = evaluate_cases(est, cases, info.preprocessing.get("channels", "green"), n_boot, seed)
        result.update(metrics=summary, images_per_s=ips, second_observer_dice=observer_agreement(cases),
                      n=len(cases))
        if outp:
            table.to_csv(outp / "per_image.csv", index=False)
    if outp:
        (outp / "metrics.json").write_text(dumps(result))
    return result


def headline(result: dict[str, Any]) -> str:
    """One line for the terminal."""
    m = result["metrics"]
    keys = [k for k in ("accuracy", "auroc", "sensitivity", "specificity", "dice", "iou", "hd95") if k in m]
    parts = [f"{k} {m[k]['value']:.3f} ({m[k]['ci_low']:.3f}-{m[k]['ci_high']:.3f})" for k in keys
             if np.isfinite(m[k]["value"])]
    return f"{result['dataset']}/{result['split']} (n={result['n']}): " + ", ".join(parts)
