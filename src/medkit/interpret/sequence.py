"""Integrated gradients (captum) for torch sequence models: one attribution per time step and variable.

For an input ``x`` (T, V), a baseline ``x'`` and a scalar output ``F`` (the logit of the explained class),
integrated gradients (Sundararajan et al. 2017) are

    IG_tv(x) = (x_tv - x'_tv) * ∫_0^1 ∂F(x' + a (x - x')) / ∂x_tv da

and satisfy completeness: ``sum_tv IG_tv = F(x) - F(x')``, up to the Riemann/Gauss-Legendre error of the
integral, which captum returns per input (``extra["delta"]``) and :meth:`Explanation.completeness_gap`
reports. The default baseline is all zeros — for standardised inputs that is "a typical patient";
pass a baseline (e.g. the training mean) where zero means something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medkit.core.deps import require
from medkit.core.errors import ModelError
from medkit.interpret.explanation import Explanation


def explain_sequence(module: Any, X: Any, *, feature_names: Sequence[str] | None = None, baseline: Any = None,
                     target: int | None = None, additional_forward_args: Any = None, n_steps: int = 64,
                     batch_size: int = 64) -> Explanation:
    """Integrated-gradients attributions for a torch module mapping (B, T, V) to logits.

    Parameters
    ----------
    module
        ``torch.nn.Module``; ``module(x, *additional_forward_args)`` returns (B,), (B, 1) or (B, K) logits.
    X
        (n, T, V) array or tensor (float).
    target
        Output column to explain for (B, K) outputs (default: the last, i.e. the positive class).
    additional_forward_args
        Extra inputs passed unchanged (e.g. a (n, T, V) observation mask, lengths); not attributed.

    Returns
    -------
    Explanation
        ``values`` (n, T, V) on the logit scale; ``base_values`` = F(baseline), ``predictions`` = F(x).
    """
    torch = require("torch", "clinical")
    captum_attr = require("captum.attr", "trust")
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    if x.ndim != 3:
        raise ModelError(f"integrated gradients for sequences needs (n, T, V) input, got shape {tuple(x.shape)}",
                         where="explain: X", fix="pass a batch of sequences shaped (patients, time steps, variables)")
    base = torch.zeros_like(x) if baseline is None else torch.as_tensor(np.asarray(baseline), dtype=torch.float32)
    if base.ndim == 2:
        base = base.unsqueeze(0).expand_as(x).contiguous()
    was_training = module.training
    module.eval()

    def forward(inp: Any, *extra: Any) -> Any:
        out = module(inp, *extra)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    with torch.no_grad():
        probe = forward(x[:1], *_slice_extra(additional_forward_args, 0, 1))
    multi = probe.ndim == 2
    tgt = (target if target is not None else probe.shape[1] - 1) if multi else None
    ig = captum_attr.IntegratedGradients(forward)
    attrs, deltas, f_x, f_b = [], [], [], []
    try:
        for s in range(0, len(x), batch_size):
            xb, bb = x[s:s + batch_size], base[s:s + batch_size]
            extra = _slice_extra(additional_forward_args, s, s + batch_size)
            a, d = ig.attribute(xb, baselines=bb, target=tgt, additional_forward_args=extra or None,
                                n_steps=n_steps, return_convergence_delta=True)
            attrs.append(a.detach())
            deltas.append(d.detach())
            with torch.no_grad():
                fx, fb = forward(xb, *extra), forward(bb, *extra)
            if multi:
                fx, fb = fx[:, tgt], fb[:, tgt]
            f_x.append(fx)
            f_b.append(fb)
    finally:
        module.train(was_training)
    values = torch.cat(attrs).numpy().astype(float)
    names = list(feature_names) if feature_names is not None else [f"v{i}" for i in range(x.shape[2])]
    if len(names) != x.shape[2]:
        raise ModelError(f"{len(names)} feature names for {x.shape[2]} variables", where="feature_names",
                         fix="pass one name per variable (last axis)")
    return Explanation(method="integrated-gradients", values=values, base_values=torch.cat(f_b).numpy().astype(float),
                       predictions=torch.cat(f_x).numpy().astype(float), feature_names=names, output="logit",
                       additive=True, data=x.numpy().astype(float),
                       extra={"delta": torch.cat(deltas).numpy().astype(float), "n_steps": n_steps, "target": tgt})


def _slice_extra(extra: Any, lo: int, hi: int) -> tuple[Any, ...]:
    if extra is None:
        return ()
    items = extra if isinstance(extra, tuple) else (extra,)
    return tuple(e[lo:hi] if hasattr(e, "__getitem__") and hasattr(e, "shape") else e for e in items)
