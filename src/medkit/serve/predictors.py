"""Load and cache predictors of registered model versions.

Dispatch is on ``bundle.json["pillar"]``: ``medkit.<pillar>.serving.load_predictor(bundle_dir)``, imported only when
a model of that pillar is first used, so the service starts even when a pillar's extra is not installed.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from medkit.core.bundle import Predictor, bundle_digest, reuse_digests
from medkit.serve.errors import ModelUnavailable

Loader = Callable[[Path], Any]


def default_loader(pillar: str) -> Loader:
    try:
        mod = importlib.import_module(f"medkit.{pillar}.serving")
    except ImportError as exc:
        raise ModelUnavailable(f"the {pillar} pillar cannot serve models here ({exc.name or exc} is missing)",
                               where=f"medkit.{pillar}.serving",
                               fix=f"install the extra: pip install 'medkit[{pillar}]'") from None
    fn = getattr(mod, "load_predictor", None)
    if fn is None:
        raise ModelUnavailable(f"medkit.{pillar}.serving has no load_predictor", where=f"medkit.{pillar}.serving",
                               fix="upgrade medkit")
    return fn  # type: ignore[no-any-return]


class PredictorCache:
    """One loaded predictor per (bundle directory); loading happens once, under a lock per key.

    Bundles hold pickles (joblib, torch), and unpickling runs code. So before a stored copy is loaded, its sha256
    is checked against the digest recorded at registration (:meth:`expect`): a copy changed on disk after
    registration is refused (503), not unpickled.
    """

    def __init__(self, loaders: Mapping[str, Loader] | None = None) -> None:
        self._loaders = dict(loaders or {})
        self._cache: dict[str, Predictor] = {}
        self._expected: dict[str, str] = {}
        self._lock = threading.Lock()

    def expect(self, bundle_dir: str, sha256: str) -> None:
        """Record the registered digest of ``bundle_dir``; it is verified when the bundle is first loaded."""
        self._expected[bundle_dir] = sha256

    def get(self, pillar: str, bundle_dir: str) -> Predictor:
        pred = self._cache.get(bundle_dir)
        if pred is not None:
            return pred
        with self._lock:
            pred = self._cache.get(bundle_dir)
            if pred is None:
                loader = self._loaders.get(pillar) or default_loader(pillar)
                if not Path(bundle_dir).is_dir():
                    raise ModelUnavailable("the stored copy of this model version is missing", where=bundle_dir,
                                           fix="re-register the model with `medkit models register`")
                expected = self._expected.get(bundle_dir)
                digest = None if expected is None else bundle_digest(bundle_dir)
                if digest is not None and digest.sha256 != expected:
                    raise ModelUnavailable("the stored copy of this model version differs from the registered one "
                                           "(its sha256 changed after registration); it was not loaded",
                                           where=bundle_dir, fix="restore the copy from backup or re-register the "
                                           "model with `medkit models register`, and find out who changed it")
                # The loader's own check (artefacts against bundle.json) reuses the digests just computed.
                with reuse_digests(digest):
                    pred = loader(Path(bundle_dir))
                self._cache[bundle_dir] = pred
        return pred
