"""One federated site: a Flower client process that trains the tabular MLP on its own rows only.

Started by :func:`medkit.privacy.federated.run_federated` as
``python -m medkit.privacy.federated_site --address 127.0.0.1:PORT --data site.npz --config '{...}'``;
the data file holds only this site's rows (already standardised with the federation's pooled statistics).
FedProx: when the server's fit config carries ``proximal_mu`` > 0, the local loss gets
``mu / 2 * ||w - w_global||^2``. ``drop_round`` makes the process exit in the middle of that round's fit,
to exercise the server's handling of a client that disappears. With secure aggregation the site answers the
server's key request with a fresh public key per round and returns ``mask(n * (w_local - w_global))``
instead of its weights (:mod:`medkit.privacy.secure_agg`).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from typing import Any

import numpy as np


def _split(y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified local train/validation indices (validation rows never leave the site either)."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), dtype=bool)
    if frac > 0:
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            val[idx[: int(round(frac * len(idx)))]] = True
    return np.flatnonzero(~val), np.flatnonzero(val)


def _client(X_all: np.ndarray, y_all: np.ndarray, cfg: dict[str, Any]) -> Any:
    import flwr as fl
    import torch

    from medkit.privacy.tabular_mlp import MLP, train_mlp
    from medkit.training import TrainConfig

    torch.set_num_threads(1)
    torch.manual_seed(int(cfg.get("seed", 0)))
    tr, va = _split(y_all, float(cfg.get("val_fraction", 0.0)), int(cfg.get("seed", 0)))
    X, y, X_val, y_val = X_all[tr], y_all[tr], X_all[va], y_all[va]
    model = MLP(X.shape[1], hidden=int(cfg.get("hidden", 64)))

    def get_weights() -> list[np.ndarray]:
        return [v.detach().cpu().numpy() for v in model.state_dict().values()]

    def set_weights(ws: list[np.ndarray]) -> None:
        keys = list(model.state_dict().keys())
        model.load_state_dict({k: torch.as_tensor(w) for k, w in zip(keys, ws, strict=True)})

    site = int(cfg.get("site", 0))
    round_keys: dict[int, Any] = {}

    class SiteClient(fl.client.NumPyClient):  # type: ignore[misc]
        def get_properties(self, config: dict[str, Any]) -> dict[str, Any]:
            """Secure aggregation key request: a fresh key pair for the round; only the public key leaves."""
            from medkit.privacy.secure_agg import new_keys

            rnd = int(config.get("secagg_round", -1))
            if rnd < 0 or not cfg.get("secure_agg"):
                return {"site": site}
            round_keys.clear()  # keys of earlier rounds are never reused
            round_keys[rnd] = new_keys()
            return {"site": site, "public_key": round_keys[rnd].public}

        def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
            return get_weights()

        def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict]:
            rnd = int(config.get("server_round", 0))
            set_weights(parameters)
            if int(cfg.get("drop_round", -1)) == rnd:
                os._exit(3)  # simulated crash mid-round: no reply reaches the server
            mu = float(config.get("proximal_mu", 0.0))
            global_w = [p.detach().clone() for p in model.parameters()]

            def prox(m: torch.nn.Module) -> torch.Tensor:
                sq = torch.stack([((p - g) ** 2).sum() for p, g in zip(m.parameters(), global_w, strict=True)])
                return (mu / 2) * sq.sum()

            tc = TrainConfig(max_epochs=int(cfg.get("local_epochs", 1)), batch_size=int(cfg.get("batch_size", 64)),
                             lr=float(cfg.get("lr", 3e-3)), weight_decay=1e-4, scheduler="none", patience=None,
                             monitor="train_loss", restore_best=False, progress=False,
                             seed=int(cfg.get("seed", 0)) * 1000 + rnd)
            res = train_mlp(model, X, y, tc, penalty=prox if mu > 0 else None)
            metrics = {"train_loss": float(res.history[-1]["train_loss"]), "n_pos": int(y.sum()), "site": site}
            delta = [w.astype(np.float64) - g for w, g in zip(get_weights(), parameters, strict=True)]
            weight = len(y)
            peers = ({int(v): bytes(config[f"secagg_pk_{v}"]) for v in str(config["secagg_sites"]).split(",")}
                     if "secagg_sites" in config else {})
            if cfg.get("dp_clip") is not None:
                from medkit.privacy.client_dp import privatise_update

                # unpredictable noise (a seeded generator would let anyone who knows the seed remove it)
                delta, _ = privatise_update(delta, float(cfg["dp_clip"]), float(cfg.get("dp_noise", 0.0)),
                                            len(peers) or int(cfg.get("n_sites", 1)), bool(peers),
                                            np.random.default_rng())
                weight = 1  # unweighted mean: one site moves the average by at most clip / m
            if peers:
                from medkit.privacy.secure_agg import mask_update

                if rnd not in round_keys:
                    raise RuntimeError(f"secure aggregation: no key pair for round {rnd}")
                return mask_update([weight * d for d in delta], site, round_keys.pop(rnd), peers, rnd), weight, metrics
            if cfg.get("dp_clip") is None:
                return get_weights(), weight, metrics
            return [(g + d).astype(g.dtype) for g, d in zip(parameters, delta, strict=True)], weight, metrics

        def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[float, int, dict]:
            """Validation BCE (and AUROC) of the global model on this site's held-out rows, for model selection."""
            if len(y_val) == 0:
                return 0.0, 0, {}
            set_weights(parameters)
            model.eval()
            with torch.no_grad():
                logits = model(torch.as_tensor(X_val))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y_val))
            metrics = {}
            if len(np.unique(y_val)) == 2:
                from sklearn.metrics import roc_auc_score

                metrics["auroc"] = float(roc_auc_score(y_val, logits.numpy()))
            return float(loss), len(y_val), metrics

    return SiteClient()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", default="{}")
    a = ap.parse_args(argv)
    if not a.address.startswith("127.0.0.1:"):
        raise SystemExit("federated sites only connect over loopback (127.0.0.1)")
    warnings.filterwarnings("ignore")
    cfg = json.loads(a.config)
    with np.load(a.data) as d:
        X, y = d["X"], d["y"]
    import flwr as fl

    fl.client.start_client(server_address=a.address, client=_client(X, y, cfg).to_client(), insecure=True,
                           max_retries=20, max_wait_time=60.0)


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    main()
