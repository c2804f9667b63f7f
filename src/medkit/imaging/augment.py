"""Batch augmentation on tensors, every random transform with a deterministic twin.

:class:`RandomAugment` only *samples* parameters (:class:`AugmentParams`) from the torch RNG and then calls
:func:`augment_fixed`, the deterministic twin, so tests can replay exactly what training saw. Geometry
(flip, 90° rotation, small rotation/scale) is applied identically to images and masks (masks with
nearest-neighbour sampling); intensity changes (gain, bias, gamma) touch images only.

Sampling uses the global torch RNG, which :class:`medkit.training.Trainer` seeds and checkpoints, so
augmented training is reproducible and resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentParams", "RandomAugment", "RandomFlip3D", "augment_fixed", "flip3d_fixed"]


@dataclass
class AugmentParams:
    """Per-sample parameters, each a tensor of shape ``(B,)``.

    ``flip``: horizontal flip (0/1); ``rot90``: quarter turns (0-3); ``angle``: extra rotation in radians;
    ``scale``: zoom factor; ``gain``/``bias``: intensity ``x * gain + bias`` (in normalised units);
    ``gamma``: exponent applied to the min-max-scaled image.
    """

    flip: torch.Tensor
    rot90: torch.Tensor
    angle: torch.Tensor
    scale: torch.Tensor
    gain: torch.Tensor
    bias: torch.Tensor
    gamma: torch.Tensor

    @classmethod
    def identity(cls, batch: int) -> AugmentParams:
        z = torch.zeros(batch)
        return cls(z.clone(), z.clone().long(), z.clone(), torch.ones(batch), torch.ones(batch), z.clone(),
                   torch.ones(batch))


def augment_fixed(x: torch.Tensor, params: AugmentParams, mask: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply ``params`` deterministically.

    Parameters
    ----------
    x
        ``(B, C, H, W)`` float images.
    mask
        Optional ``(B, 1, H, W)`` or ``(B, H, W)`` labels, transformed with the same geometry.
    """
    b = x.shape[0]
    # Affine: rotation by angle + quarter turns, zoom by 1/scale, optional horizontal flip.  (B, 2, 3)
    theta_rad = params.angle + params.rot90.float() * (math.pi / 2)
    cos, sin = torch.cos(theta_rad) / params.scale, torch.sin(theta_rad) / params.scale
    fx = 1.0 - 2.0 * params.flip.float()
    mat = torch.zeros(b, 2, 3, dtype=x.dtype)
    mat[:, 0, 0], mat[:, 0, 1] = cos * fx, -sin
    mat[:, 1, 0], mat[:, 1, 1] = sin * fx, cos
    identity_geom = bool(torch.all(params.flip == 0) and torch.all(params.rot90 == 0)
                         and torch.all(params.angle == 0) and torch.all(params.scale == 1))
    if not identity_geom:
        grid = F.affine_grid(mat, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if mask is not None:
            squeeze = mask.dim() == 3
            m = (mask.unsqueeze(1) if squeeze else mask).float()
            m = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
            mask = (m.squeeze(1) if squeeze else m).to(mask.dtype)
    # Intensity, per sample: gamma on the min-max-scaled image keeps the original range.  (B, 1, 1, 1)
    g = params.gamma.view(b, 1, 1, 1).to(x.dtype)
    if not torch.all(g == 1):
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        span = (hi - lo).clamp_min(1e-6)
        x = ((x - lo) / span).clamp(0, 1).pow(g) * span + lo
    x = x * params.gain.view(b, 1, 1, 1).to(x.dtype) + params.bias.view(b, 1, 1, 1).to(x.dtype)
    return x, mask


class RandomAugment:
    """Sample :class:`AugmentParams` and apply them with :func:`augment_fixed`.

    Parameters
    ----------
    flip
        Probability of a horizontal flip (left/right brain or eye are both plausible).
    rot90
        Whether to use random quarter turns (fine for fundus patches, not for upright X-rays).
    max_angle_deg, max_zoom
        Uniform ranges ``[-max_angle, max_angle]`` and ``[1/max_zoom, max_zoom]``.
    gain, bias, gamma
        Ranges ``1 ± gain``, ``± bias`` and ``[1/gamma, gamma]`` (log-uniform).
    """

    def __init__(self, *, flip: float = 0.5, rot90: bool = False, max_angle_deg: float = 10.0,
                 max_zoom: float = 1.1, gain: float = 0.1, bias: float = 0.1, gamma: float = 1.2) -> None:
        self.flip, self.rot90, self.max_angle = flip, rot90, math.radians(max_angle_deg)
        self.max_zoom, self.gain, self.bias, self.gamma = max_zoom, gain, bias, gamma

    def sample(self, batch: int, generator: torch.Generator | None = None) -> AugmentParams:
        def u(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(batch, generator=generator)

        return AugmentParams(
            flip=(torch.rand(batch, generator=generator) < self.flip).float(),
            rot90=(torch.randint(0, 4, (batch,), generator=generator) if self.rot90
                   else torch.zeros(batch, dtype=torch.long)),
            angle=u(-self.max_angle, self.max_angle),
            scale=torch.exp(u(-math.log(self.max_zoom), math.log(self.max_zoom))),
            gain=u(1 - self.gain, 1 + self.gain),
            bias=u(-self.bias, self.bias),
            gamma=torch.exp(u(-math.log(self.gamma), math.log(self.gamma))),
        )

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return augment_fixed(x, self.sample(x.shape[0], generator), mask)


def flip3d_fixed(x: torch.Tensor, flips: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor,
                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Deterministic 3-D twin: per-sample axis flips and intensity ``x * gain + bias``.

    Parameters
    ----------
    x
        ``(B, C, D, H, W)`` float volumes.
    flips
        ``(B, 3)`` 0/1, whether to flip each spatial axis (D, H, W) of sample ``b``.
    gain, bias
        ``(B,)`` intensity change (normalised units); masks are untouched by it.
    mask
        Optional ``(B, 1, D, H, W)`` labels, flipped like ``x``.
    """
    xs, ms = [], []
    for b in range(x.shape[0]):
        dims = [2 + k for k in range(3) if flips[b, k] > 0]  # axes of the (1, C, D, H, W) slice
        xb, mb = x[b:b + 1], None if mask is None else mask[b:b + 1]
        if dims:
            xb = torch.flip(xb, dims)
            mb = None if mb is None else torch.flip(mb, dims)
        xs.append(xb * gain[b] + bias[b])
        if mb is not None:
            ms.append(mb)
    return torch.cat(xs), (torch.cat(ms) if mask is not None else None)


class RandomFlip3D:
    """Sample per-sample axis flips (probability ``flip`` each) and gain/bias, apply with :func:`flip3d_fixed`.

    Flips only (no interpolation): a volume's voxel grid and its label stay exactly aligned, and left/right,
    anterior/posterior mirror images are plausible anatomy for patch-level features.
    """

    def __init__(self, *, flip: float = 0.5, gain: float = 0.1, bias: float = 0.1) -> None:
        self.flip, self.gain, self.bias = flip, gain, bias

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = x.shape[0]
        flips = (torch.rand(b, 3, generator=generator) < self.flip).float()
        gain = 1 + self.gain * (2 * torch.rand(b, generator=generator) - 1)
        bias = self.bias * (2 * torch.rand(b, generator=generator) - 1)
        return flip3d_fixed(x, flips, gain.to(x.dtype), bias.to(x.dtype), mask)
