"""``explain(model, X, method=None)``: one entry point for every model medkit trains.

Dispatch (first match wins, unless ``method`` is given):

1. the model has its own ``explain(X)`` (e.g. drug predictors drawing atom attributions) → ``method="model"``;
2. a ``torch.nn.Module`` (or an estimator holding one in ``module_``) with (n, T, V) input →
   integrated gradients; with (n, C, H, W[, D]) image input → Grad-CAM (:mod:`medkit.interpret.gradcam`);
3. a scikit-learn style model with ``predict_proba``/``predict`` → SHAP (tree → linear → permutation).

Anything else raises :class:`ModelError` naming the methods that would apply.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from medkit.core.errors import ModelError
from medkit.interpret.explanation import Explanation

METHODS = ("model", "shap", "shap-tree", "shap-linear", "shap-permutation", "integrated-gradients", "grad-cam")


def _torch_module(model: Any) -> Any:
    try:
        import torch
    except ImportError:
        return None
    if isinstance(model, torch.nn.Module):
        return model
    inner = getattr(model, "module_", None)
    return inner if isinstance(inner, torch.nn.Module) else None


def _ndim(X: Any) -> int:
    return len(getattr(X, "shape", np.shape(X)))


def applicable_methods(model: Any, X: Any = None) -> list[str]:
    """Methods :func:`explain` can use for ``model`` (and input ``X`` when given)."""
    out = []
    if callable(getattr(model, "explain", None)):
        out.append("model")
    mod = _torch_module(model)
    if mod is not None:
        nd = _ndim(X) if X is not None else None
        if nd in (None, 3):
            out.append("integrated-gradients")
        if nd in (None, 4, 5):
            out.append("grad-cam")
    elif hasattr(model, "predict_proba") or hasattr(model, "predict"):
        from medkit.interpret.tabular import applicable

        out += ["shap", *applicable(model)]
    return out


def _grad_cam(module: Any, X: Any, **kwargs: Any) -> Explanation:
    try:
        gc: Any = importlib.import_module("medkit.interpret.gradcam")
    except ImportError:
        raise ModelError("Grad-CAM is not available: medkit.interpret.gradcam is not installed in this build",
                         where="explain(method='grad-cam')",
                         fix="update medkit; the imaging pillar provides medkit.interpret.gradcam") from None
    import torch

    x = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X), dtype=torch.float32)
    maps = np.asarray(gc.grad_cam(module, x, **kwargs))  # (n, H, W) in [0, 1] per image
    with torch.no_grad():
        scores = module(x)
    n = maps.shape[0]
    idx = kwargs.get("class_idx")
    pred = scores.argmax(1) if idx is None else torch.full((n,), int(idx))
    return Explanation(method="grad-cam", values=maps, base_values=np.zeros(n),
                       predictions=scores.gather(1, pred[:, None])[:, 0].numpy().astype(float),
                       feature_names=[], output="class score", additive=False, data=x.numpy(),
                       extra={"class_idx": pred.numpy(), "target_layer": str(kwargs.get("target_layer", "last conv"))})


def _own_explain(model: Any, X: Any, **kwargs: Any) -> Explanation:
    """Call ``model.explain``. Per-item explainers (one SMILES → per-atom ``weights``) are called per item and
    their ragged outputs packed: ``values`` (n, max_atoms) zero-padded, atoms and raw results in ``extra``."""
    name = type(model).__name__
    items = [X] if isinstance(X, str) else X
    if isinstance(items, (list, tuple)) and items and all(isinstance(i, str) for i in items):
        outs = [model.explain(i, **kwargs) for i in items]
    else:
        outs = [model.explain(X, **kwargs)]
    if len(outs) == 1 and isinstance(outs[0], Explanation):
        return outs[0]
    if not all(hasattr(o, "weights") for o in outs):
        raise ModelError(f"{name}.explain returned {type(outs[0]).__name__}, which has neither the Explanation "
                         "type nor per-item 'weights'", where=f"{name}.explain",
                         fix="return medkit.interpret.Explanation (or an object with weights/prediction)")
    w = [np.asarray(o.weights, dtype=float).reshape(-1) for o in outs]
    values = np.zeros((len(w), max(len(v) for v in w)))
    for i, v in enumerate(w):
        values[i, :len(v)] = v
    return Explanation(method=str(getattr(outs[0], "method", "model")), values=values, base_values=np.zeros(len(w)),
                       predictions=np.array([float(getattr(o, "prediction", np.nan)) for o in outs]),
                       feature_names=[], output="prediction", additive=False,
                       extra={"atoms": [list(getattr(o, "atoms", [])) for o in outs],
                              "inputs": [getattr(o, "smiles", None) for o in outs], "raw": outs})


def explain(model: Any, X: Any, method: str | None = None, **kwargs: Any) -> Explanation:
    """Explain ``model``'s predictions for ``X``.

    Parameters
    ----------
    model
        A fitted scikit-learn model/pipeline, a ``torch.nn.Module`` (or estimator with ``module_``), or any
        object with its own ``explain(X)``.
    X
        Inputs: DataFrame/array (n, F) for tabular; (n, T, V) for sequences; (n, C, H, W) for images.
    method
        One of :data:`METHODS`; ``None`` picks the most exact method that applies.
    **kwargs
        Passed to the method (``background=``, ``baseline=``, ``feature_names=``, ``target=``, ...).

    Raises
    ------
    ModelError
        The model cannot be explained (naming the methods that would apply), or ``method`` does not apply.
    """
    if method is not None and method not in METHODS:
        raise ModelError(f"unknown explanation method '{method}'", where="explain(method=...)",
                         fix=f"use one of {', '.join(METHODS)}")
    ok = applicable_methods(model, X)
    if method is None:
        if not ok and _torch_module(model) is not None:
            raise ModelError(f"cannot explain a torch {type(model).__name__} on input of shape "
                             f"{tuple(getattr(X, 'shape', np.shape(X)))}", where="explain(X)",
                             fix="integrated-gradients needs (n, T, V) sequences; grad-cam needs (n, C, H, W) images")
        if not ok:
            raise ModelError(f"cannot explain a {type(model).__name__}: it is not a scikit-learn model (no predict/"
                             "predict_proba), not a torch module and has no explain() method",
                             where="explain(model)", fix="methods: SHAP for scikit-learn models, integrated-gradients "
                             "for torch sequence models, grad-cam for torch image models, or give the model explain(X)")
        method = ok[0]
    elif method not in ok and not (method.startswith("shap") and "shap" in ok):
        raise ModelError(f"'{method}' does not apply to a {type(model).__name__} with input of shape "
                         f"{tuple(getattr(X, 'shape', np.shape(X)))}", where="explain(method=...)",
                         fix=f"methods that apply: {', '.join(ok) or 'none'}")
    if method == "model":
        return _own_explain(model, X, **kwargs)
    if method == "integrated-gradients":
        from medkit.interpret.sequence import explain_sequence

        return explain_sequence(_torch_module(model), X, **kwargs)
    if method == "grad-cam":
        return _grad_cam(_torch_module(model), X, **kwargs)
    from medkit.interpret.tabular import explain_tabular

    return explain_tabular(model, X, method=method, **kwargs)
