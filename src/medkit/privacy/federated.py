"""Federated training with Flower: FedAvg / FedProx, one OS process per site, loopback only.

The server (this process) runs Flower's gRPC server on ``127.0.0.1:<free port>``; every site is a separate
Python process (:mod:`medkit.privacy.federated_site`) that sees only its own rows and sends back model
weights. Preprocessing uses pooled per-feature statistics that sites share as aggregates (counts, sums, sums
of squares), never rows. Rounds and wall time are bounded; a site that crashes mid-round is dropped and
training goes on with the others (Flower's ``accept_failures``); a site without positive labels still
trains (it contributes negatives) and is flagged in the result.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.deps import require
from medkit.core.errors import ConfigError, DataError, ModelError
from medkit.core.logging import get_logger

log = get_logger("medkit.privacy.federated")


@dataclass
class FederatedResult:
    """Final global weights plus what happened per round."""

    weights: list[np.ndarray]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    sites_without_positives: list[int] = field(default_factory=list)
    dropped_sites: list[int] = field(default_factory=list)
    pooled_mean: np.ndarray | None = None
    pooled_std: np.ndarray | None = None
    seconds: float = 0.0
    best_round: int = 0
    dp_epsilon: float | None = None

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Apply the federation's pooled preprocessing to new rows: (N, F) -> (N, F) float32."""
        assert self.pooled_mean is not None and self.pooled_std is not None
        Z = (np.where(np.isfinite(X), X, self.pooled_mean) - self.pooled_mean) / self.pooled_std
        return np.clip(Z, -5, 5).astype(np.float32)

    def model(self, n_features: int, hidden: int = 64) -> Any:
        """The global :class:`~medkit.privacy.tabular_mlp.MLP` with the final weights."""
        import torch

        from medkit.privacy.tabular_mlp import MLP

        m = MLP(n_features, hidden=hidden)
        keys = list(m.state_dict().keys())
        m.load_state_dict({k: torch.as_tensor(w) for k, w in zip(keys, self.weights, strict=True)})
        return m


def pooled_statistics(sites: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and SD from per-site aggregates (n, sum, sum of squares over observed values)."""
    n = sum(np.isfinite(X).sum(axis=0) for X, _ in sites)
    s = sum(np.nansum(np.where(np.isfinite(X), X, np.nan), axis=0) for X, _ in sites)
    ss = sum(np.nansum(np.where(np.isfinite(X), X, np.nan) ** 2, axis=0) for X, _ in sites)
    mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    var = np.where(n > 1, ss / np.maximum(n, 1) - mean**2, 1.0)
    std = np.sqrt(np.maximum(var, 0))
    return mean, np.where(std > 1e-8, std, 1.0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _strategy(kind: str, n_sites: int, mu: float, init: list[np.ndarray], startup_timeout: float,
              record: list[dict[str, Any]], select: bool, secure: bool = False) -> Any:
    fl = require("flwr", "privacy")
    from flwr.common import GetPropertiesIns, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg, FedProx

    from medkit.privacy.secure_agg import sum_masked

    base = FedProx if kind == "fedprox" else FedAvg

    class Recording(base):  # type: ignore[misc, valid-type]
        latest: list[np.ndarray] = init
        best: list[np.ndarray] | None = None
        best_loss: float = float("inf")
        best_round: int = 0
        masked_sites: set[int] = set()

        def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
            if server_round == 1:  # wait for every site once, so round 1 includes all of them
                client_manager.wait_for(n_sites, timeout=int(startup_timeout))
            ins = super().configure_fit(server_round, parameters, client_manager)
            return self._key_exchange(server_round, ins) if secure else ins

        def _key_exchange(self, server_round: int, ins: list[Any]) -> list[Any]:
            # Secure aggregation, step 1: every sampled site makes a fresh X25519 key pair for this round and
            # returns only its public key; the server relays all public keys with the fit instructions.
            keys: dict[int, bytes] = {}
            kept = []
            for client, fit_ins in ins:
                try:
                    res = client.get_properties(GetPropertiesIns({"secagg_round": server_round}),
                                                timeout=startup_timeout, group_id=server_round)
                    keys[int(res.properties["site"])] = bytes(res.properties["public_key"])
                    kept.append((client, fit_ins))
                except Exception as exc:  # a site that cannot take part is left out of this round
                    log.warning("secure aggregation: a site did not send its key in round %d (%s)",
                                server_round, type(exc).__name__)
            self.masked_sites = set(keys)
            cfg = dict(kept[0][1].config) if kept else {}
            cfg["secagg_sites"] = ",".join(str(k) for k in sorted(keys))
            cfg.update({f"secagg_pk_{k}": pk for k, pk in keys.items()})
            return [(c, type(fi)(fi.parameters, cfg)) for c, fi in kept]

        def _secure_aggregate(self, server_round: int, results: Any, failures: Any) -> tuple[Any, dict]:
            # Step 2: the server adds the masked updates modulo 2**64; the pairwise masks cancel only if every
            # masked site replied. Otherwise the sum is noise and the round's aggregate is discarded.
            got = {int(r.metrics["site"]) for _, r in results}
            if failures or got != self.masked_sites:
                log.warning("secure aggregation: round %d discarded, %d of %d masked sites replied",
                            server_round, len(got), len(self.masked_sites))
                return None, {"secagg": "discarded"}
            total = sum_masked([parameters_to_ndarrays(r.parameters) for _, r in results])
            n = sum(r.num_examples for _, r in results)
            new = [(g + t / n).astype(g.dtype) for g, t in zip(self.latest, total, strict=True)]
            return ndarrays_to_parameters(new), {"secagg": "ok"}

        def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
            if secure:
                params, metrics = self._secure_aggregate(server_round, results, failures) if results else (None, {})
            else:
                params, metrics = super().aggregate_fit(server_round, results, failures)
            if params is not None:
                self.latest = parameters_to_ndarrays(params)
            record.append({"round": server_round, "n_results": len(results), "n_failures": len(failures),
                           "n_examples": int(sum(r.num_examples for _, r in results)),
                           "train_loss": float(np.mean([r.metrics.get("train_loss", np.nan) for _, r in results]))
                           if results else float("nan")})
            if secure:
                record[-1]["secure_agg"] = metrics.get("secagg", "discarded")
            return params, metrics

        def aggregate_evaluate(self, server_round: int, results: Any, failures: Any) -> Any:
            # Server-side model selection on the sites' validation rows, the federated twin of early stopping
            # on validation AUROC in pooled training: the example-weighted mean of the sites' AUROCs (sites
            # whose validation rows hold one class only report none). Only these summaries leave the sites.
            results = [(c, r) for c, r in results if r.num_examples > 0]
            if not results:
                return None, {}
            n = sum(r.num_examples for _, r in results)
            loss = float(sum(r.loss * r.num_examples for _, r in results) / n)
            with_auc = [(r.metrics["auroc"], r.num_examples) for _, r in results if "auroc" in r.metrics]
            auc = float(sum(a * k for a, k in with_auc) / sum(k for _, k in with_auc)) if with_auc else float("nan")
            if record and record[-1]["round"] == server_round:
                record[-1].update(val_loss=loss, val_auroc=auc)
            score = -auc if with_auc else loss  # lower is better
            if score < self.best_loss:
                self.best_loss, self.best, self.best_round = score, [w.copy() for w in self.latest], server_round
            return loss, {"val_auroc": auc}

    kw: dict[str, Any] = dict(fraction_fit=1.0, fraction_evaluate=1.0 if select else 0.0, min_fit_clients=1,
                              min_evaluate_clients=1 if select else 0,
                              min_available_clients=1, accept_failures=True,
                              initial_parameters=ndarrays_to_parameters(init),
                              on_fit_config_fn=lambda rnd: {"server_round": rnd})
    if kind == "fedprox":
        kw["proximal_mu"] = mu
    _ = fl
    return Recording(**kw)


def run_federated(sites: list[tuple[np.ndarray, np.ndarray]], *, strategy: str = "fedavg", rounds: int = 10,
                  local_epochs: int = 1, mu: float = 0.01, lr: float = 3e-3, batch_size: int = 64, hidden: int = 64,
                  seed: int = 0, timeout_s: float = 600.0, drop: dict[int, int] | None = None,
                  val_fraction: float = 0.0, secure_agg: bool = False, dp_clip: float | None = None,
                  dp_noise: float = 0.0, dp_delta: float = 1e-5) -> FederatedResult:
    """Train the tabular MLP across ``sites`` (each ``(X (N_i, F), y (N_i,))``) with Flower.

    Parameters
    ----------
    strategy
        ``"fedavg"`` or ``"fedprox"`` (``mu`` = proximal strength).
    rounds, local_epochs
        Communication rounds and local epochs per round.
    timeout_s
        Wall-clock bound of the whole run; sites still running after it are terminated.
    drop
        ``{site index: round}``: that site crashes during that round (for testing dropout handling).
    val_fraction
        When > 0, each site keeps this stratified fraction of its rows for validation; after every round the
        sites report the global model's validation loss and AUROC and the best round's weights are the
        result (``best_round``; highest weighted mean site AUROC, or lowest loss); otherwise the last round's
        weights are returned.
    secure_agg
        Pairwise-masked secure aggregation (:mod:`medkit.privacy.secure_agg`): the server only sees masked
        updates whose sum is the FedAvg update. A round in which a masked site drops out is discarded.
    dp_clip, dp_noise, dp_delta
        Site-level DP on client updates (:mod:`medkit.privacy.client_dp`): each site clips its update to L2
        norm ``dp_clip`` and adds Gaussian noise (multiplier ``dp_noise``, shared across sites when
        ``secure_agg``); updates are averaged unweighted; ``dp_epsilon`` of the result is the site-level
        epsilon at ``dp_delta`` over all rounds.
    """
    fl = require("flwr", "privacy")
    import torch

    from medkit.privacy.tabular_mlp import MLP

    if strategy not in {"fedavg", "fedprox"}:
        raise ConfigError(f"unknown strategy '{strategy}'", where="federated.strategy", fix="use fedavg or fedprox")
    if len(sites) < 2:
        raise ConfigError(f"federated training needs at least 2 sites, got {len(sites)}", where="--sites",
                          fix="pass --sites 2 or more")
    if rounds < 1:
        raise ConfigError("rounds must be >= 1", where="federated.rounds", fix="use e.g. 10")
    n_feat = sites[0][0].shape[1]
    for i, (X, y) in enumerate(sites):
        if X.shape[1] != n_feat or len(X) != len(y) or len(y) == 0:
            raise DataError(f"site {i} has {X.shape} features / {len(y)} labels; expected (N>0, {n_feat})",
                            where=f"site {i}", fix="give every site the same feature columns and one label per row")
    if dp_clip is not None:
        from medkit.privacy.client_dp import check_dp_params

        check_dp_params(dp_clip, dp_noise)
    no_pos = [i for i, (_, y) in enumerate(sites) if int(np.sum(y)) == 0]
    for i in no_pos:
        log.warning("site %d has no positive labels; it still trains and contributes negatives", i)
    t0 = time.perf_counter()
    mean, std = pooled_statistics(sites)
    torch.manual_seed(seed)
    init = [v.detach().numpy().copy() for v in MLP(n_feat, hidden=hidden).state_dict().values()]
    record: list[dict[str, Any]] = []
    strat = _strategy(strategy, len(sites), mu, init, startup_timeout=min(120.0, timeout_s), record=record,
                      select=val_fraction > 0, secure=secure_agg)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    from flwr.server import SimpleClientManager

    class BoundedClientManager(SimpleClientManager):  # type: ignore[misc]
        # Flower waits up to a day for clients by default; a federation whose sites died must end instead.
        def wait_for(self, num_clients: int, timeout: int = 86400) -> bool:
            return bool(super().wait_for(num_clients, timeout=min(timeout, int(max(10.0, timeout_s / 4)))))

    logging.getLogger("flwr").setLevel(logging.WARNING)  # Flower logs every round at INFO
    procs: list[subprocess.Popen[bytes]] = []
    state = {"timed_out": False}

    def watchdog() -> None:
        state["timed_out"] = True
        for p in procs:
            if p.poll() is None:
                p.terminate()

    with tempfile.TemporaryDirectory(prefix="medkit-fed-") as tmp:
        for i, (X, y) in enumerate(sites):
            path = Path(tmp) / f"site{i}.npz"
            Z = (np.where(np.isfinite(X), X, mean) - mean) / std
            np.savez(path, X=np.clip(Z, -5, 5).astype(np.float32), y=np.asarray(y, dtype=np.float32))
            cfg = {"site": i, "secure_agg": secure_agg, "dp_clip": dp_clip, "dp_noise": dp_noise,
                   "n_sites": len(sites), "seed": seed * 100 + i, "local_epochs": local_epochs, "lr": lr,
                   "batch_size": batch_size, "hidden": hidden, "drop_round": (drop or {}).get(i, -1), "val_fraction": val_fraction}
            procs.append(subprocess.Popen([sys.executable, "-m", "medkit.privacy.federated_site", "--address", address,
                                           "--data", str(path), "--config", json.dumps(cfg)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        timer = threading.Timer(timeout_s, watchdog)
        timer.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fl.server.start_server(server_address=address, strategy=strat, client_manager=BoundedClientManager(),
                                       config=fl.server.ServerConfig(num_rounds=rounds,
                                                                     round_timeout=max(30.0, timeout_s / rounds)))
        finally:
            timer.cancel()
            dropped = []
            for i, p in enumerate(procs):
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.terminate()
                    p.wait(timeout=10)
                if p.returncode not in (0, None) and (drop or {}).get(i) is not None:
                    dropped.append(i)
    timed_out = state["timed_out"]
    if timed_out:
        raise ModelError(f"federated training did not finish within {timeout_s:.0f} s", where="federated",
                         fix="raise --timeout or lower --rounds / --local-epochs")
    if not record or all(r["n_results"] == 0 for r in record):
        errs = [p.stderr.read().decode(errors="replace")[-500:] for p in procs if p.stderr is not None]
        raise ModelError("no site returned an update", where="federated",
                         fix=f"check the site logs: {errs[0] if errs else 'none'}")
    weights = strat.best if strat.best is not None else strat.latest
    best_round = strat.best_round if strat.best is not None else len(record)
    eps = None
    if dp_clip is not None:
        from medkit.privacy.client_dp import site_level_epsilon

        eps = site_level_epsilon(dp_noise, len(record), dp_delta)
    return FederatedResult(weights, record, no_pos, dropped, mean, std, time.perf_counter() - t0, best_round, eps)
