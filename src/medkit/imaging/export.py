"""ONNX export of model + intensity preprocessing, with an onnxruntime parity check.

The exported graph takes raw pixels in the stored range (``(B, C, S, S)``, 0-255 for 8-bit pictures, already
resized on the host) and returns class probabilities (classifier) or per-pixel class probabilities
(segmenter, whose input is the standardised image; tiling stays on the host).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medkit.core.errors import MissingDependencyError, ModelError

__all__ = ["ParityResult", "export_onnx", "onnx_parity", "run_onnx"]


@dataclass
class ParityResult:
    """Largest absolute difference between torch and onnxruntime outputs on the check inputs."""

    max_abs_diff: float
    n_inputs: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path, *, opset: int = 17) -> Path:
    """Export ``model`` (eval mode) to ``path`` with a dynamic batch axis (TorchScript-based exporter)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dyn = {"input": {0: "batch"}, "output": {0: "batch"}}
    if example.dim() == 4 and example.shape[-1] != example.shape[-2]:
        dyn["input"].update({2: "height", 3: "width"})
    try:
        with torch.no_grad():
            torch.onnx.export(model, (example,), str(p), input_names=["input"], output_names=["output"],
                              dynamic_axes=dyn, opset_version=opset, dynamo=False, external_data=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        raise ModelError(f"ONNX export failed ({type(exc).__name__}: {exc})", where=str(p),
                         fix="report the model architecture; torch.save bundles still work") from None
    return p


def run_onnx(path: str | Path, x: np.ndarray) -> np.ndarray:
    """Run an exported model with onnxruntime on CPU."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime is not installed", where="import onnxruntime",
                                     fix="pip install 'medkit[imaging]'") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(["output"], {"input": np.ascontiguousarray(x, dtype=np.float32)})[0])


def onnx_parity(model: nn.Module, path: str | Path, x: np.ndarray, tolerance: float = 1e-4) -> ParityResult:
    """Compare torch and onnxruntime outputs on ``x``."""
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    got = run_onnx(path, x)
    return ParityResult(float(np.max(np.abs(ref - got))), int(len(x)), tolerance)
