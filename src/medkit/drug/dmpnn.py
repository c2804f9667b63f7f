"""Directed message-passing neural network (D-MPNN, Yang et al. 2019) in torch, as a scikit-learn estimator.

Hidden states live on directed bonds: ``z(u→v) = W_i [x_u ‖ e_uv]``, ``h⁰ = ReLU(z)``; each step sums the
messages arriving at ``u`` except the one coming back from ``v``: ``m(u→v) = Σ_{k∈N(u)} h(k→u) − h(v→u)``, then
``h(u→v) = ReLU(z + W_h m)`` (chemprop's code; ``h0_preactivation=False`` adds ``h⁰`` instead, as the paper). Atom states ``ReLU(W_o [x_v ‖ Σ h(k→v)])`` are mean-pooled per molecule and fed
to a feed-forward head with one output per task. Multitask losses are masked so missing labels contribute
nothing. ``ensemble_size`` independent members (seeds ``seed + k``) give the mean and the variance (epistemic
uncertainty). Training goes through :class:`medkit.training.Trainer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from medkit.core.errors import ConfigError
from medkit.drug.featurize import (
    ATOM_DIM,
    ATOM_DIMS,
    BOND_COMBOS,
    BOND_DIM,
    BatchGraph,
    GraphCache,
    MolGraph,
    batch_graphs,
    check_atom_features,
    mol_graph,
)
from medkit.drug.gemm import blas_limit, gemm_backend, mm
from medkit.drug.noam import noam_setup_hook
from medkit.drug.predictors import AtomAttribution, MoleculePredictorMixin, _valid_mol

__all__ = ["DMPNN", "DMPNNModel", "masked_loss"]


_ROWS = 64


def _linear(layer: nn.Linear, t: torch.Tensor) -> torch.Tensor:
    """``layer(t)`` in fp32 out, with the row count padded to a multiple of 64 under bf16 autocast.

    Why: oneDNN builds (JIT-compiles) a bf16 matmul kernel per input shape, and every batch of molecules has a
    different number of bonds, so unpadded bf16 training was slower than fp32 (measured 1.8 vs 1.2 ms/molecule).
    Padding makes shapes repeat; the padded rows are zeros and are cut off again (no effect on the result).
    """
    n = t.shape[0]
    if not torch.is_autocast_enabled("cpu") or n % _ROWS == 0:
        return layer(t).float()
    pad = _ROWS - n % _ROWS
    return layer(nn.functional.pad(t, (0, 0, 0, pad)))[:n].float()


class DMPNN(nn.Module):
    """The network: bond-centred message passing → mean readout → FFN. Output ``(n_mols, n_tasks)`` logits."""

    def __init__(self, n_tasks: int, hidden: int = 300, depth: int = 3, ffn_hidden: int = 300,
                 dropout: float = 0.0, h0_preactivation: bool = True, atom_dim: int = ATOM_DIM) -> None:
        super().__init__()
        self.depth = depth
        self.h0_preactivation = h0_preactivation
        self.W_i = nn.Linear(atom_dim + BOND_DIM, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_o = nn.Linear(atom_dim + hidden, hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, ffn_hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(ffn_hidden, n_tasks))

    def encode(self, g: BatchGraph, x: torch.Tensor | None = None) -> torch.Tensor:
        """Molecule embeddings ``(n_mols, hidden)``; ``x`` overrides the atom features (for attributions)."""
        x = g.x if x is None else x  # (A, atom_dim)
        # Matrix products may run in bf16 under autocast (precision="bf16"); sums over neighbours and atoms are
        # accumulated in fp32 so the reduced precision stays in the products only.
        z0 = _linear(self.W_i, torch.cat([x[g.src], g.e], dim=1))  # (E, H)
        h = torch.relu(z0)
        # chemprop (v1 and v2 code) adds the PRE-activation input W_i[x‖e] in every update; the paper's formula
        # adds ReLU of it. Models pickled before this option existed used the paper's form.
        skip = z0 if getattr(self, "h0_preactivation", False) else h
        for _ in range(self.depth - 1):
            incoming = torch.zeros(x.shape[0], h.shape[1]).index_add_(0, g.dst, h)  # (A, H)
            m = incoming[g.src] - h[g.rev]  # (E, H): all messages into u except the reverse edge
            h = torch.relu(skip + _linear(self.W_h, m))
        agg = torch.zeros(x.shape[0], h.shape[1]).index_add_(0, g.dst, h)  # (A, H)
        atoms = torch.relu(_linear(self.W_o, torch.cat([x, agg], dim=1)))  # (A, H)
        pooled = torch.zeros(g.n_mols, atoms.shape[1]).index_add_(0, g.batch, atoms)
        counts = torch.bincount(g.batch, minlength=g.n_mols).clamp(min=1).unsqueeze(1)
        return pooled / counts  # (M, H) mean aggregation

    def forward(self, g: BatchGraph, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encode(g, x)).float()  # (M, T)

    @torch.no_grad()
    def inference_weights(self) -> dict[str, torch.Tensor]:
        """The weights rearranged for :meth:`predict_fast` (fp32, contiguous, transposed for ``a @ w``)."""
        a = self.W_o.in_features - self.W_h.in_features  # atom_dim
        wi, wo = self.W_i.weight.float(), self.W_o.weight.float()
        return {"atom": torch.cat([wi[:, :a].t(), wo[:, :a].t()], dim=1).contiguous(),  # (atom_dim, 2H)
                "bond": wi[:, a:].t().contiguous(), "h": self.W_h.weight.float().t().contiguous(),
                "bond_combos": torch.from_numpy(BOND_COMBOS) @ wi[:, a:].t(),  # (N_BOND_COMBOS, H)
                "o": wo[:, a:].t().contiguous(), "o_bias": self.W_o.bias.float()}

    @torch.no_grad()
    def predict_fast(self, g: BatchGraph, w: dict[str, torch.Tensor] | None = None,
                     numpy_gemm: bool = False) -> torch.Tensor:
        """:meth:`forward` for prediction (fp32, no autograd), equal to it up to fp32 rounding (tested)."""
        return self.head(self.encode_fast(g, w, numpy_gemm)).float()

    @torch.no_grad()
    def encode_fast(self, g: BatchGraph, w: dict[str, torch.Tensor] | None = None,
                    numpy_gemm: bool = False) -> torch.Tensor:
        """:meth:`encode` for prediction (fp32, no autograd), equal to it up to fp32 rounding (tested).

        The atom features are multi-hot, so ``W_i[x_u ‖ e_uv] = (x W_iᵃ)[u] + e_uv W_iᵇ`` and ``W_o[x ‖ agg] =
        x W_oᵃ + agg W_oʰ``: the atom parts of W_i and W_o are taken once per atom (not once per directed bond) as
        a sum of weight rows picked by ``g.codes`` (an embedding bag), instead of dense products with the
        mostly-zero ``x``: about 20 % fewer floating-point operations. ``w`` = :meth:`inference_weights` (built
        here if not given); ``numpy_gemm`` runs the large products through numpy (see :mod:`medkit.drug.gemm`).
        """
        w = self.inference_weights() if w is None else w
        n_atoms, hid = g.x.shape[0], self.W_h.in_features
        if g.codes is None or g.cont is None:
            proj = mm(g.x, w["atom"], numpy_gemm)  # (A, 2H)
        else:
            proj = nn.functional.embedding_bag(g.codes, w["atom"], mode="sum")
            proj.addmm_(g.cont, w["atom"][-2:])  # aromatic flag and mass/100 close every layout
        if g.bond_ids is None:
            z0 = proj[:, :hid].index_select(0, g.src).addmm_(g.e, w["bond"])  # (E, H) = W_i [x_u ‖ e_uv]
        else:  # the same as one gather-and-add: row u of the atom part + row (bond id) of the bond part
            table = torch.cat([proj[:, :hid], w["bond_combos"]])
            z0 = nn.functional.embedding_bag(torch.stack([g.src, g.bond_ids + n_atoms], dim=1), table, mode="sum")
        h = torch.relu(z0)
        skip = z0 if getattr(self, "h0_preactivation", False) else h
        for _ in range(self.depth - 1):
            incoming = torch.zeros(n_atoms, hid).index_add_(0, g.dst, h)
            m = incoming.index_select(0, g.src).sub_(h.index_select(0, g.rev))
            h = mm(m, w["h"], numpy_gemm).add_(skip).relu_()
        agg = torch.zeros(n_atoms, hid).index_add_(0, g.dst, h)
        atoms = mm(agg, w["o"], numpy_gemm).add_(proj[:, hid:]).add_(w["o_bias"]).relu_()
        pooled = torch.zeros(g.n_mols, hid).index_add_(0, g.batch, atoms)
        counts = torch.bincount(g.batch, minlength=g.n_mols).clamp(min=1).unsqueeze(1)
        return pooled / counts


def masked_loss(pred: torch.Tensor, y: torch.Tensor, task_type: str) -> torch.Tensor:
    """Mean loss over labelled entries only: MSE (regression, on scaled targets) or BCE-with-logits.

    ``pred`` and ``y`` are ``(M, T)``; NaN in ``y`` marks a missing label and is excluded from the mean.
    """
    mask = ~torch.isnan(y)
    if not mask.any():
        return pred.sum() * 0.0
    y0 = torch.where(mask, y, torch.zeros_like(y))
    if task_type == "regression":
        per = (pred - y0) ** 2
    else:
        per = nn.functional.binary_cross_entropy_with_logits(pred, y0, reduction="none")
    return (per * mask).sum() / mask.sum()


class _GraphSet(torch.utils.data.Dataset):
    def __init__(self, graphs: list[MolGraph], y: np.ndarray) -> None:
        self.graphs, self.y = graphs, y.astype(np.float32)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, MolGraph]:
        return self.y[i], self.graphs[i]


def _collate(items: list[tuple[np.ndarray, MolGraph]]) -> tuple[torch.Tensor, BatchGraph]:
    return torch.from_numpy(np.stack([it[0] for it in items])), batch_graphs([it[1] for it in items])


class DMPNNModel(MoleculePredictorMixin, BaseEstimator):
    """chemprop-style D-MPNN estimator (regression or multitask classification, ensembles, uncertainty).

    Parameters
    ----------
    task_type
        ``"regression"`` (targets standardised internally) or ``"classification"`` (sigmoid per task).
    hidden, depth, ffn_hidden, dropout
        Message size, number of message-passing steps, FFN width, dropout (chemprop defaults 300/3/300/0).
    epochs, batch_size, lr, patience
        Trainer settings; with validation data the best epoch (lowest validation loss) is restored.
    lr_schedule
        ``"cosine"`` (default): AdamW with 2 warm-up epochs and cosine decay to 0 (the Trainer's schedule).
        ``"noam"``: chemprop's schedule — Adam, LR warmed up linearly from ``lr/10`` to ``lr`` over 2 epochs,
        then decayed exponentially to ``lr/10`` at the last epoch (:mod:`medkit.drug.noam`, tested equal to
        chemprop's). Chosen on validation scores (docs/drug.md): cosine gave higher BBBP validation AUROC.
    h0_preactivation
        ``True`` (default, as chemprop's code; tested equal to chemprop's ``BondMessagePassing``): each update
        adds the pre-activation input ``W_i[x‖e]``; ``False``: adds ``ReLU(W_i[x‖e])`` (the formula as printed
        in Yang et al. 2019, and the form of models pickled before this option existed; it gave lower
        validation AUROC / higher RMSE on BBBP / ESOL).
    atom_features
        Atom-feature layout (:mod:`medkit.drug.featurize`): ``"v1"`` (133 columns, chemprop's ``v1()``; the
        default, as before this option) or ``"v2"`` (72 columns, chemprop v2's default featuriser; tested equal
        to ``MultiHotAtomFeaturizer.v2()``).
    ensemble_size
        Members trained with seeds ``seed, seed+1, …``; prediction = mean, uncertainty = variance.
    standardise
        Run RDKit standardisation on every input (default, ~3 ms/molecule); ``False`` = parse, sanitise and
        size-check only, for SMILES that are already standardised (invalid rows are still reported).
    precision
        ``"bf16"`` runs the matrix products under bf16 autocast (training and prediction; weights, optimiser
        and neighbour/atom sums stay fp32). ~2-3x faster on CPUs with AMX / AVX512-BF16.

    Molecule graphs are featurised once and kept in a bounded cache keyed by SMILES (``graph_cache_``), so
    validation every epoch, ensemble members and repeated predictions reuse them.
    """

    def __init__(self, task_type: Literal["regression", "classification"] = "regression", hidden: int = 300,
                 depth: int = 3, ffn_hidden: int = 300, dropout: float = 0.0, epochs: int = 50, batch_size: int = 50,
                 lr: float = 1e-3, weight_decay: float = 0.0, patience: int | None = 10, ensemble_size: int = 1,
                 seed: int = 0, checkpoint_dir: str | None = None, progress: bool = True, standardise: bool = True,
                 precision: Literal["fp32", "bf16"] = "fp32", lr_schedule: Literal["cosine", "noam"] = "cosine",
                 h0_preactivation: bool = True, atom_features: Literal["v1", "v2"] = "v1") -> None:
        self.task_type = task_type
        self.atom_features = atom_features
        self.lr_schedule = lr_schedule
        self.h0_preactivation = h0_preactivation
        self.standardise = standardise
        self.precision = precision
        self.hidden = hidden
        self.depth = depth
        self.ffn_hidden = ffn_hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.ensemble_size = ensemble_size
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _graphs(self, smiles: Sequence[str], mols: Sequence[Any] | None = None) -> list[MolGraph]:
        mode = self.atom_features
        cache = getattr(self, "graph_cache_", None)
        if cache is None or getattr(cache, "atom_features", "v1") != mode:  # a cache holds one atom layout
            cache = self.graph_cache_ = GraphCache(atom_features=mode)
        if mols is not None and len(mols) != len(smiles):
            raise ValueError(f"{len(smiles)} SMILES but {len(mols)} molecules")
        return cache.get_many(smiles, mols)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("graph_cache_", None)  # a cache, not model state: keep pickles/bundles small
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("atom_features", "v1")  # models pickled before the option existed used the v1 layout
        super().__setstate__(state)

    def _autocast(self) -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def fit(self, smiles: Sequence[str], y: Any, val_smiles: Sequence[str] | None = None,
            val_y: Any = None) -> DMPNNModel:
        """Train ``ensemble_size`` members; ``val_*`` (optional) drive early stopping and best-epoch restore."""
        from medkit.training import TrainConfig, Trainer

        std, keep, Y = self._check_fit_inputs(smiles, y)
        Y = Y[keep]
        if self.precision not in {"fp32", "bf16"}:
            raise ConfigError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}", where="precision",
                              fix="use 'fp32' (default) or 'bf16' on a CPU with bf16 support")
        if self.lr_schedule not in {"noam", "cosine"}:
            raise ConfigError(f"lr_schedule must be 'noam' or 'cosine', got {self.lr_schedule!r}", where="lr_schedule",
                              fix="use 'cosine' (default) or 'noam' (chemprop's schedule)")
        check_atom_features(self.atom_features)
        graphs = self._graphs([std.smiles[i] for i in keep],  # type: ignore[misc]
                              None if std.mols is None else [std.mols[i] for i in keep])
        self.n_tasks_ = Y.shape[1]
        if self.task_type == "regression":
            self.y_mean_ = np.nanmean(Y, axis=0)
            self.y_std_ = np.where(np.nanstd(Y, axis=0) > 0, np.nanstd(Y, axis=0), 1.0)
        else:
            self.y_mean_, self.y_std_ = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
        train = _GraphSet(graphs, (Y - self.y_mean_) / self.y_std_)
        val = None
        if val_smiles is not None and val_y is not None:
            from medkit.drug.predictors import as_2d_targets

            vs = self._prepare(val_smiles)
            vY = as_2d_targets(val_y)[vs.valid_index]
            vm = None if vs.mols is None else [vs.mols[i] for i in vs.valid_index]
            val = _GraphSet(self._graphs(vs.valid_smiles, vm), (vY - self.y_mean_) / self.y_std_)
        task_type = self.task_type

        def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, BatchGraph]) -> torch.Tensor:
            yb, g = batch
            with self._autocast():
                out = model(g)
            return masked_loss(out, yb, task_type)

        self.models_: list[DMPNN] = []
        self.histories_: list[list[dict[str, float]]] = []
        for k in range(self.ensemble_size):
            torch.manual_seed(self.seed + k)
            net = DMPNN(self.n_tasks_, self.hidden, self.depth, self.ffn_hidden, self.dropout, self.h0_preactivation,
                        ATOM_DIMS[self.atom_features])
            noam = self.lr_schedule == "noam"
            cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                              weight_decay=self.weight_decay, seed=self.seed + k, patience=self.patience,
                              progress=self.progress, grad_clip=10.0, warmup_epochs=min(2, self.epochs - 1),
                              scheduler="none" if noam else "cosine")
            ck = f"{self.checkpoint_dir}/member_{k}" if self.checkpoint_dir else None
            hook = noam_setup_hook(self.epochs, 2, self.lr / 10, self.lr, self.lr / 10, self.weight_decay) if noam else None
            res = Trainer(net, loss_fn, cfg, collate_fn=_collate, checkpoint_dir=ck, setup_hook=hook,
                          description=f"D-MPNN {k + 1}/{self.ensemble_size}").fit(train, val)
            net.eval()
            self.models_.append(net)
            self.histories_.append(res.history)
        self.train_smiles_ = [std.smiles[i] for i in keep]
        return self

    def _member_outputs(self, graphs: list[MolGraph], batch: int = 128) -> np.ndarray:
        """``(K, n, T)`` member predictions on the original scale (probabilities for classification)."""
        outs = []
        # ~128 molecules per batch keeps the (E, H) message tensors in cache (measured faster than 32 or 1024)
        batches = [batch_graphs(graphs[i:i + batch]) for i in range(0, len(graphs), batch)]  # built once for all
        fast = self.precision == "fp32"  # the bf16 path keeps autocast's products (forward)
        numpy_gemm = fast and gemm_backend() == "numpy"
        with torch.no_grad(), self._autocast(), blas_limit() if numpy_gemm else contextlib.nullcontext():
            for net in self.models_:
                net.eval()
                if fast:
                    w = net.inference_weights()
                    z = np.concatenate([net.predict_fast(b, w, numpy_gemm).numpy() for b in batches])
                else:
                    z = np.concatenate([net(b).numpy() for b in batches])
                outs.append(z * self.y_std_ + self.y_mean_ if self.task_type == "regression" else 1 / (1 + np.exp(-z)))
        return np.stack(outs)

    def _predict_valid(self, smiles: list[str], mols: list[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        members = self._member_outputs(self._graphs(smiles, mols))
        var = members.var(axis=0) if len(members) > 1 else np.full(members.shape[1:], np.nan)
        return members.mean(axis=0), var

    def _explain_one(self, smiles: str, task: int = 0) -> AtomAttribution:
        """Per-atom attribution: gradient × input on the atom features, averaged over ensemble members.

        Units are those of the (scaled-back) prediction for regression and of the logit for classification.
        """
        self._check_fitted()
        mol = _valid_mol(smiles)
        g = batch_graphs([mol_graph(mol, self.atom_features)])
        ws, preds = [], []
        for net in self.models_:
            x = g.x.clone().requires_grad_(True)
            out = net(g, x)[0, task]
            (grad,) = torch.autograd.grad(out, x)
            scale = float(self.y_std_[task]) if self.task_type == "regression" else 1.0
            ws.append((grad * x).sum(1).detach().numpy() * scale)
            z = float(out.detach())
            preds.append(z * scale + float(self.y_mean_[task]) if self.task_type == "regression"
                         else 1 / (1 + np.exp(-z)))
        return AtomAttribution(smiles, float(np.mean(preds)), np.mean(ws, axis=0),
                               [a.GetSymbol() for a in mol.GetAtoms()], "gradient × input", self.tasks_[task])
