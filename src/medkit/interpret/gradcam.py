"""Saliency maps for torch CNNs: Grad-CAM and SmoothGrad, plus the weight-randomisation sanity check.

Generic over any ``nn.Module`` mapping ``(B, C, H, W)`` (or ``(B, C, D, H, W)``) to class scores ``(B, K)``.
Grad-CAM (Selvaraju et al., ICCV 2017) weights the activations of a convolutional layer by the spatially
averaged gradient of the class score, keeps the positive part and upsamples to the input size. SmoothGrad
(Smilkov et al., 2017) averages input gradients over noisy copies of the input.

Maps are only worth showing if they depend on what the model learnt: :func:`randomisation_check` (Adebayo et
al., NeurIPS 2018) re-initialises the weights and measures how much the map changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medkit.core.errors import ModelError

__all__ = ["RandomisationResult", "find_last_conv", "grad_cam", "randomisation_check", "smooth_grad"]


def find_last_conv(model: nn.Module) -> nn.Module:
    """The last ``Conv2d``/``Conv3d`` in registration order (the usual Grad-CAM target)."""
    last = None
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            last = m
    if last is None:
        raise ModelError("model has no convolutional layer for Grad-CAM", where=type(model).__name__,
                         fix="pass target_layer= explicitly or use smooth_grad")
    return last


def _resolve(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    if layer is None:
        return find_last_conv(model)
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))][-5:]
            raise ModelError(f"model has no layer '{layer}'", where=type(model).__name__,
                             fix=f"use one of e.g. {names}") from None
    return layer


def _class_index(scores: torch.Tensor, class_idx: int | None) -> torch.Tensor:
    if class_idx is None:
        return scores.argmax(dim=1)
    return torch.full((scores.shape[0],), int(class_idx), dtype=torch.long)


def _normalise(maps: torch.Tensor) -> np.ndarray:
    flat = maps.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(maps).detach().cpu().numpy()


def grad_cam(model: nn.Module, x: torch.Tensor, *, class_idx: int | None = None,
             target_layer: nn.Module | str | None = None) -> np.ndarray:
    """Grad-CAM maps.

    Parameters
    ----------
    model
        Returns class scores ``(B, K)`` (logits or probabilities).
    x
        Input ``(B, C, H, W)`` (or 3-D ``(B, C, D, H, W)``).
    class_idx
        Class to explain; default the predicted class of each input.
    target_layer
        Module, its dotted name, or ``None`` for the last convolution.

    Returns
    -------
    ndarray ``(B, H, W)`` (or ``(B, D, H, W)``) in ``[0, 1]`` per image.
    """
    layer = _resolve(model, target_layer)
    store: dict[str, torch.Tensor] = {}

    def fwd_hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(fwd_hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xi = x.detach().clone().requires_grad_(True)
            scores = model(xi)  # (B, K)
            idx = _class_index(scores, class_idx)
            model.zero_grad(set_to_none=True)
            scores.gather(1, idx[:, None]).sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    if "act" not in store or "grad" not in store:
        raise ModelError("target layer was not used in the forward pass", where=type(layer).__name__,
                         fix="choose a layer that the model's forward calls")
    act, grad = store["act"], store["grad"]  # (B, F, h, w)
    dims = tuple(range(2, act.dim()))
    weights = grad.mean(dim=dims, keepdim=True)  # (B, F, 1, 1)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    mode = "bilinear" if cam.dim() == 4 else "trilinear"
    cam = F.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=False)[:, 0]
    return _normalise(cam)


def smooth_grad(model: nn.Module, x: torch.Tensor, *, class_idx: int | None = None, n_samples: int = 16,
                noise: float = 0.15, seed: int = 0) -> np.ndarray:
    """SmoothGrad: mean absolute input gradient over ``n_samples`` noisy copies (noise sd = ``noise`` × range).

    Returns ``(B, H, W)`` in ``[0, 1]`` (channels summed).
    """
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    sd = noise * (x.amax() - x.amin()).clamp_min(1e-12)
    total = torch.zeros_like(x)
    try:
        with torch.no_grad():
            idx = _class_index(model(x), class_idx)
        for _ in range(n_samples):
            xi = (x + sd * torch.randn(x.shape, generator=gen)).requires_grad_(True)
            with torch.enable_grad():
                model(xi).gather(1, idx[:, None]).sum().backward()
            assert xi.grad is not None
            total += xi.grad.abs()
    finally:
        model.train(was_training)
    return _normalise((total / n_samples).sum(dim=1))


@dataclass
class RandomisationResult:
    """Spearman rank correlation between the map of the trained and of the re-initialised model, per image."""

    spearman: np.ndarray
    method: str

    @property
    def passed(self) -> bool:
        """The map is sensitive to the weights (mean |rho| < 0.5)."""
        return bool(np.mean(np.abs(self.spearman)) < 0.5)


def randomisation_check(model: nn.Module, x: torch.Tensor, *, method: str = "gradcam", seed: int = 0,
                        **kw: Any) -> RandomisationResult:
    """Model-parameter randomisation test: re-initialise every layer and compare the maps.

    A saliency method whose map barely changes when the weights are random explains the input, not the
    model, and should not be shown to clinicians.
    """
    fn = grad_cam if method == "gradcam" else smooth_grad

    before = fn(model, x, **kw)
    rand = copy.deepcopy(model)
    torch.manual_seed(seed)
    for m in rand.modules():
        # Re-draw the learnt filters (conv/linear); normalisation layers keep their statistics so the
        # random network's activations stay in range and its map is not trivially empty.
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            m.reset_parameters()
    if method == "gradcam" and isinstance(kw.get("target_layer"), nn.Module):
        # Map the layer object onto the copy by name.
        name = next(n for n, mm in model.named_modules() if mm is kw["target_layer"])
        kw = {**kw, "target_layer": name}
    after = fn(rand, x, **kw)
    rho = np.array([_spearman(a, b) for a, b in zip(before, after, strict=True)])
    return RandomisationResult(rho, method)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    # A constant map (e.g. Grad-CAM of a random net is often all zero after ReLU) shares no ranking with
    # the trained map: count it as correlation 0 rather than NaN.
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a.ravel(), b.ravel()).statistic)
