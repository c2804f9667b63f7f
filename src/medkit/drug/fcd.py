"""Fréchet ChemNet Distance (Preuer et al. 2018), implemented here on the ChemNet weights shipped offline.

The ChemNet v0.13 weights are a list of ``(layer_type, (state_dict, kwargs, info))`` tuples stored inside the
``fcd_torch`` wheel (``ChemNet_v0.13_pretrained.pt``); we load that file with ``weights_only=True`` and build
the network ourselves: two strided Conv1d (Keras "same" padding, SELU) then two backwards LSTMs, taking the
last step's 512 activations. FCD is the Fréchet distance between Gaussians fitted to the activations of two sets.
No network access is needed and ``fcd_torch``'s code is not used (tests compare our values with it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medkit.core.errors import DataError, MissingDependencyError

__all__ = ["ChemNet", "FCDStats", "fcd", "fcd_stats", "frechet_distance"]

_VOCAB = ["C", "N", "O", "H", "F", "Cl", "P", "B", "Br", "S", "I", "Si", "#", "(", ")", "+", "-", "1", "2", "3",
          "4", "5", "6", "7", "8", "=", "[", "]", "@", "c", "n", "o", "s", "X", "."]
_C2I = {c: i for i, c in enumerate(_VOCAB)}
_UNK, _END = _C2I["X"], _C2I["."]
_TWO_LETTER_SECOND = {"r", "i", "l"}  # Br, Si, Cl (and the tokenizer's quirk for any x followed by these)
PAD_LEN = 350


def weights_path() -> Path:
    """Location of ``ChemNet_v0.13_pretrained.pt`` inside the installed ``fcd_torch`` wheel (not imported)."""
    spec = importlib.util.find_spec("fcd_torch")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("FCD needs the ChemNet weights shipped in the 'fcd_torch' wheel",
                                     where="medkit.drug.fcd", fix="pip install 'medkit[drug]' (installs fcd_torch)")
    return Path(list(spec.submodule_search_locations)[0]) / "ChemNet_v0.13_pretrained.pt"


def one_hot(smiles: str, pad_len: int = PAD_LEN) -> np.ndarray:
    """ChemNet's tokenisation: ``(pad_len, 35)`` one-hot, ``'.'`` marks the end, truncated at ``pad_len``."""
    s = smiles + "."
    out = np.zeros((pad_len, len(_VOCAB)), dtype=np.float32)
    src = dst = 0
    while True:
        if s[src + 1] in _TWO_LETTER_SECOND:
            sym, src = s[src:src + 2], src + 2
        else:
            sym, src = s[src], src + 1
        out[dst, _C2I.get(sym, _UNK)] = 1.0
        dst += 1
        if s[src] == "." or dst == pad_len - 1:
            out[dst, _END] = 1.0
            break
    return out


class _SameConv(nn.Module):
    """Keras ``padding='same'`` strided Conv1d followed by SELU (padding rule copied from the Keras export)."""

    def __init__(self, state: dict[str, torch.Tensor], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.k, self.stride = int(kwargs["kernel_size"]), int(kwargs["stride"])
        self.conv = nn.Conv1d(**kwargs)
        self.conv.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        t = x.shape[2]
        pad = max(self.k - (self.stride if t % self.stride == 0 else t % self.stride), 0)
        lo = pad // self.stride
        hi = lo if pad % self.stride == 0 else pad - lo
        return torch.selu(self.conv(nn.functional.pad(x, (lo, hi))))


class ChemNet(nn.Module):
    """ChemNet feature extractor: ``(B, 350, 35)`` one-hot / 35 → ``(B, 512)`` penultimate activations."""

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        p = Path(path) if path else weights_path()
        if not p.is_file():
            raise DataError("ChemNet weights not found", where=str(p), fix="reinstall fcd_torch")
        layers = torch.load(p, map_location="cpu", weights_only=True)
        convs, lstms = [], []
        for kind, (state, kwargs, info) in layers:
            if kind == "Conv1d":
                convs.append(_SameConv(state, kwargs))
            else:
                lstm = nn.LSTM(**kwargs)
                lstm.load_state_dict(state)
                lstms.append((lstm, bool(info["reverse"])))
        self.convs = nn.ModuleList(convs)
        self.lstms = nn.ModuleList([m for m, _ in lstms])
        self.reverse = [r for _, r in lstms]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (B, 35, T)
        for conv in self.convs:
            h = conv(h)
        h = h.transpose(1, 2)  # (B, T', 32)
        for lstm, rev in zip(self.lstms, self.reverse, strict=True):
            if rev:  # Keras go_backwards
                h = torch.flip(h, [1])
            h = lstm(h)[0]
        # clone: h[:, -1] is a view that would keep the whole (B, T', 512) LSTM output alive through .numpy()
        # (measured: ~0.18 GB per 1,000 molecules retained; 176k MOSES test molecules ran out of memory)
        return h[:, -1].clone()  # (B, 512)


_NET: dict[str, ChemNet] = {}


def chemnet_activations(smiles: Sequence[str], batch_size: int = 512, canonize: bool = True) -> np.ndarray:
    """``(n, 512)`` ChemNet activations (float32) of valid SMILES (canonicalised first, as in the FCD paper)."""
    from rdkit import Chem

    from medkit.drug.chem import quiet_rdkit

    quiet_rdkit()
    net = _NET.setdefault("v0.13", ChemNet().eval())
    outs = []
    with torch.no_grad():
        for i in range(0, len(smiles), batch_size):
            chunk = []
            for s in smiles[i:i + batch_size]:
                if canonize:
                    mol = Chem.MolFromSmiles(s)
                    if mol is None:
                        raise DataError(f"FCD got an invalid SMILES {s!r}", where="fcd",
                                        fix="remove invalid molecules first (FCD is defined on valid ones)")
                    s = Chem.MolToSmiles(mol)
                chunk.append(one_hot(s) / len(_VOCAB))
            outs.append(net(torch.from_numpy(np.stack(chunk))).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 512), dtype=np.float32)


@dataclass
class FCDStats:
    """Mean ``(512,)`` and covariance ``(512, 512)`` of ChemNet activations of one set."""

    mu: np.ndarray
    sigma: np.ndarray


def fcd_stats(smiles: Sequence[str], batch_size: int = 512) -> FCDStats:
    if len(smiles) < 2:
        raise DataError(f"FCD needs at least 2 valid molecules, got {len(smiles)}", where="fcd",
                        fix="generate more molecules")
    act = chemnet_activations(smiles, batch_size)
    return FCDStats(act.mean(0), np.cov(act.T))


def frechet_distance(a: FCDStats, b: FCDStats, eps: float = 1e-6) -> float:
    """``||mu_a - mu_b||² + Tr(Σa + Σb - 2 (Σa Σb)^½)`` with the usual ε-regularised fallback."""
    from scipy import linalg

    diff = a.mu - b.mu
    covmean = linalg.sqrtm(a.sigma.dot(b.sigma))
    if not np.isfinite(covmean).all():
        off = np.eye(a.sigma.shape[0]) * eps
        covmean = linalg.sqrtm((a.sigma + off).dot(b.sigma + off))
    if np.iscomplexobj(covmean):
        covmean = covmean.real  # tiny imaginary parts are numerical noise
    return float(diff.dot(diff) + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.trace(covmean))


def fcd(gen: Sequence[str] | FCDStats, ref: Sequence[str] | FCDStats) -> float:
    """FCD between generated and reference molecules (either may be precomputed :class:`FCDStats`)."""
    g = gen if isinstance(gen, FCDStats) else fcd_stats(gen)
    r = ref if isinstance(ref, FCDStats) else fcd_stats(ref)
    return frechet_distance(g, r)
