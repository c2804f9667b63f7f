"""Model bundles: the unit that ``predict`` commands load and ``medkit serve`` registers.

A bundle is a directory::

    bundle.json      {"pillar", "kind", "name", "created", "medkit_version", "inputs", "outputs",
                      "metrics", "label_map", "preprocessing", "run_dir", ...}
    model.*          the artefact(s), written by the pillar (joblib, torch state dict, ONNX)
    model_card.md    optional, written by medkit.reporting

Each pillar provides ``medkit.<pillar>.serving.load_predictor(bundle_dir) -> Predictor``;
``medkit serve`` dispatches on ``bundle.json["pillar"]``.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from medkit.core.errors import ModelError
from medkit.core.runs import atomic_write_text, dumps


@dataclass
class BundleInfo:
    """Metadata of a model bundle (``bundle.json``)."""

    pillar: str
    kind: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    label_map: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))
    medkit_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def save_bundle_info(path: str | Path, info: BundleInfo) -> Path:
    from medkit import __version__

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    info.medkit_version = info.medkit_version or __version__
    atomic_write_text(p / "bundle.json", dumps(info.__dict__))
    return p / "bundle.json"


def load_bundle_info(path: str | Path) -> BundleInfo:
    p = Path(path) / "bundle.json"
    if not p.is_file():
        raise ModelError(f"not a medkit model bundle (no bundle.json): {Path(path)}", where=str(path),
                         fix="pass a bundle directory written by `medkit <pillar> train`")
    try:
        data = json.loads(p.read_text())
        return BundleInfo(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"bundle.json is invalid: {exc}", where=str(p), fix="re-create the bundle") from None


@runtime_checkable
class Predictor(Protocol):
    """What a pillar's ``load_predictor`` returns."""

    info: BundleInfo

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        """Predict for ``inputs`` (list of row dicts, SMILES list, image bytes, ...); JSON-ready output."""
        ...
