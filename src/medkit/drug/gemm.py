"""Which library multiplies fp32 matrices on the D-MPNN prediction path: torch (MKL) or numpy (OpenBLAS).

The choice is made once per process (:func:`gemm_backend`); :func:`mm` runs a product with it and
:func:`blas_limit` holds numpy's BLAS to torch's thread count while it is in use.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

from medkit.core.errors import ConfigError

__all__ = ["blas_limit", "gemm_backend", "mm"]

_GEMM: list[str] = []  # the inference matrix-product backend, chosen once per process (see gemm_backend)


def gemm_backend() -> str:
    """``"numpy"`` or ``"torch"``: which library's fp32 matrix product prediction uses.

    Why: the torch CPU wheel multiplies fp32 matrices with MKL, whose fast code paths are for Intel CPUs; on an
    AMD EPYC VM it ran a (6656 x 300) @ (300 x 300) product at 33 GFLOP/s on one thread, numpy's OpenBLAS at
    58-60 (oneDNN 58). Chosen once by timing both on that shape (~0.1 s, with the BLAS thread count held to
    torch's); ``MEDKIT_DMPNN_GEMM=torch|numpy`` forces one. Without threadpoolctl (to hold numpy's thread count
    to torch's) it is torch. The two give the same products up to fp32 rounding (~1e-6).
    """
    if not _GEMM:
        import os
        import time

        forced = os.environ.get("MEDKIT_DMPNN_GEMM", "")
        if forced not in {"", "torch", "numpy"}:
            raise ConfigError(f"MEDKIT_DMPNN_GEMM must be 'torch' or 'numpy', got {forced!r}", where="MEDKIT_DMPNN_GEMM",
                              fix="unset it (chosen by timing) or set 'torch' / 'numpy'")
        if forced:
            _GEMM.append(forced)
        elif importlib.util.find_spec("threadpoolctl") is None:  # pragma: no cover - comes with scikit-learn
            _GEMM.append("torch")
        else:
            a, w = torch.rand(2048, 300), torch.rand(300, 300)
            an, wn = a.numpy(), w.numpy()
            with blas_limit():
                best = {}
                for name, f in (("torch", lambda: torch.mm(a, w)), ("numpy", lambda: np.matmul(an, wn))):
                    f()
                    t0 = time.perf_counter()
                    for _ in range(3):
                        f()
                    best[name] = time.perf_counter() - t0
            _GEMM.append(min(best, key=best.__getitem__))
    return _GEMM[0]


def blas_limit() -> Any:
    """Hold numpy's BLAS to torch's thread count from now until the returned context exits."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(torch.get_num_threads(), user_api="blas")


def mm(a: torch.Tensor, bt: torch.Tensor, numpy_gemm: bool) -> torch.Tensor:
    """``a @ bt`` (fp32, no autograd) with the chosen library."""
    if numpy_gemm:
        return torch.from_numpy(np.matmul(a.numpy(), bt.numpy()))
    return torch.mm(a, bt)
