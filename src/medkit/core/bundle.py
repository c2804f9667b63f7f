"""Model bundles: the unit that ``predict`` commands load and ``medkit serve`` registers.

A bundle is a directory::

    bundle.json      {"pillar", "kind", "name", "created", "medkit_version", "inputs", "outputs",
                      "metrics", "label_map", "preprocessing", "run_dir", ...}
    model.*          the artefact(s), written by the pillar (joblib, torch state dict, ONNX)
    model_card.md    optional, written by medkit.reporting

``bundle.json`` is written last and records the sha256 of every ``model.*`` artefact (``files``).
:func:`load_bundle_info` checks them before any loader unpickles an artefact, so a bundle whose artefact was
changed, truncated, swapped or added after it was written is refused with a :class:`ModelError`. This is an
integrity check (corruption, partial copies, edits), not a signature: anyone who can rewrite the artefact can
rewrite ``bundle.json`` too. Pickles run code when loaded: load bundles only from sources you trust.

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
from medkit.core.hashing import sha256_file
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
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each ``model.*`` artefact, recorded by :func:`save_bundle_info` (do not set by hand)."""


def _artefacts(bundle: Path) -> list[Path]:
    """The files a loader may unpickle: ``model.*`` (``model_card.*`` is documentation, not an artefact)."""
    return sorted(f for f in bundle.iterdir() if f.is_file() and f.name.startswith("model."))


def save_bundle_info(path: str | Path, info: BundleInfo) -> Path:
    """Write ``bundle.json`` into ``path``, after the artefacts: their sha256 digests are recorded in it."""
    from medkit import __version__

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    info.medkit_version = info.medkit_version or __version__
    info.files = {f.name: sha256_file(f) for f in _artefacts(p)}
    atomic_write_text(p / "bundle.json", dumps(info.__dict__))
    return p / "bundle.json"


def verify_bundle(path: str | Path, info: BundleInfo) -> None:
    """Check that the artefacts in ``path`` are the ones recorded in ``info.files``; raise :class:`ModelError`."""
    p = Path(path)
    fix = "re-create the bundle with `medkit <pillar> train`, or restore the directory from a trusted copy"
    if not info.files:
        raise ModelError("bundle.json records no artefact checksums (written by hand or by an earlier medkit), so "
                         "its model files cannot be checked before loading; it was not loaded", where=str(p), fix=fix)
    for name, digest in sorted(info.files.items()):
        f = p / name
        if Path(name).name != name or not name.startswith("model."):
            raise ModelError(f"bundle.json lists an invalid artefact name {name!r}", where=str(p / "bundle.json"),
                             fix=fix)
        if not f.is_file():
            raise ModelError(f"artefact {name} listed in bundle.json is missing", where=str(f), fix=fix)
        if sha256_file(f) != digest:
            raise ModelError(f"artefact {name} changed after the bundle was written (sha256 differs from "
                             "bundle.json); it was not loaded", where=str(f), fix=fix)
    extra = [f.name for f in _artefacts(p) if f.name not in info.files]
    if extra:
        raise ModelError(f"artefact(s) {', '.join(extra)} not listed in bundle.json (added after the bundle was "
                         "written); the bundle was not loaded", where=str(p / extra[0]), fix=fix)


def load_bundle_info(path: str | Path, *, verify: bool = True) -> BundleInfo:
    """Read ``bundle.json``; with ``verify`` (the default) also check the artefacts' digests (:func:`verify_bundle`)."""
    p = Path(path) / "bundle.json"
    if not p.is_file():
        raise ModelError(f"not a medkit model bundle (no bundle.json): {Path(path)}", where=str(path),
                         fix="pass a bundle directory written by `medkit <pillar> train`")
    try:
        data = json.loads(p.read_text())
        info = BundleInfo(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"bundle.json is invalid: {exc}", where=str(p), fix="re-create the bundle") from None
    if verify:
        verify_bundle(path, info)
    return info


@runtime_checkable
class Predictor(Protocol):
    """What a pillar's ``load_predictor`` returns."""

    info: BundleInfo

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        """Predict for ``inputs`` (list of row dicts, SMILES list, image bytes, ...); JSON-ready output."""
        ...
