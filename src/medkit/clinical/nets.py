"""Torch modules of the clinical pillar (wrapped by the scikit-learn-style estimators).

* :class:`MLP` — feed-forward net on tabular features (binary logit or Cox log-risk).
* :class:`GRUD` — GRU with trainable input and hidden-state decay (Che et al., "Recurrent
  Neural Networks for Multivariate Time Series with Missing Values", Sci Rep 2018).
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``in_features → [hidden → ReLU → dropout] * depth → 1`` (a logit or a log-risk)."""

    def __init__(self, in_features: int, hidden: int = 64, depth: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B,)
        return self.net(x).squeeze(-1)


class GRUD(nn.Module):
    """GRU-D: missing values decay towards the training mean (0 after standardising), the
    hidden state decays with the time since each variable was last seen.

    Inputs per step ``t`` (all ``(B, T, V)``): standardised values ``x`` (0 where missing),
    mask ``m``, time since last observation ``d`` (fraction of the window) and the last
    observed value ``x_last``; plus static descriptors ``s`` ``(B, S)``.
    """

    def __init__(self, n_vars: int, n_static: int, hidden: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.n_vars = n_vars
        # diagonal input decay (one rate per variable) and full hidden decay, as in the paper
        self.w_gx = nn.Parameter(torch.zeros(n_vars))
        self.b_gx = nn.Parameter(torch.zeros(n_vars))
        self.gamma_h = nn.Linear(n_vars, hidden)
        self.cell = nn.GRUCell(2 * n_vars, hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + n_static, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.hidden = hidden

    def forward(self, x: torch.Tensor, m: torch.Tensor, d: torch.Tensor, x_last: torch.Tensor,
                s: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden)  # (B, H)
        d_scaled = d * 48.0  # hours, so that decay rates are per hour
        for t in range(T):
            dt, mt = d_scaled[:, t], m[:, t]  # (B, V)
            gx = torch.exp(-torch.relu(self.w_gx * dt + self.b_gx))  # (B, V) in (0, 1]
            x_hat = mt * x[:, t] + (1 - mt) * gx * x_last[:, t]  # decays to the mean (0)
            h = torch.exp(-torch.relu(self.gamma_h(dt))) * h  # (B, H)
            h = self.cell(torch.cat([x_hat, mt], dim=-1), h)
        return self.head(torch.cat([h, s], dim=-1)).squeeze(-1)  # (B,)
