"""``medkit federated run``: Flower FedAvg/FedProx across simulated sites (one process each, loopback only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Federated training across sites (Flower, loopback only).")


@app.command("run")
def run(
    sites: Annotated[int, typer.Option(help="Number of sites (4 = the PhysioNet 2012 ICU types).")] = 4,
    strategy: Annotated[str, typer.Option(help="fedavg or fedprox.")] = "fedavg",
    rounds: Annotated[int, typer.Option(help="Communication rounds.")] = 10,
    local_epochs: Annotated[int, typer.Option(help="Local epochs per round.")] = 1,
    mu: Annotated[float, typer.Option(help="FedProx proximal strength.")] = 0.01,
    limit: Annotated[int | None, typer.Option(help="Read only this many records per set (quick runs).")] = None,
    val_fraction: Annotated[float, typer.Option(help="Share of each site's rows kept for choosing the best "
                                                "round (0 = keep the last round).")] = 0.2,
    secure_agg: Annotated[bool, typer.Option("--secure-agg", help="Pairwise-masked secure aggregation: the server "
                                             "only sees masked updates (a round with a drop-out is discarded).")
                          ] = False,
    dp_clip: Annotated[float | None, typer.Option(help="Site-level DP on client updates: L2 clip norm of a "
                                                 "site's update (unset = no DP).")] = None,
    dp_noise: Annotated[float, typer.Option(help="Noise multiplier for --dp-clip (noise SD = multiplier x clip).")
                        ] = 1.0,
    timeout: Annotated[float, typer.Option(help="Wall-clock limit of the federation in seconds.")] = 900.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Root folder for the run directory.")] = Path("runs"),
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")] = None,
) -> None:
    """Train on PhysioNet 2012 set A split into sites, evaluate the global model on set B (AUROC, 95% CI)."""
    from medkit.core.runs import RunDir
    from medkit.evaluation import binary_report
    from medkit.privacy.federated import run_federated
    from medkit.privacy.physionet_sites import ICU_NAMES, load_xy, make_sites
    from medkit.privacy.tabular_mlp import predict_proba

    a = load_xy("a", data_dir, limit)
    b = load_xy("b", data_dir, limit)
    idx = make_sites(a, sites, seed)
    res = run_federated([(a.X[i], a.y[i]) for i in idx], strategy=strategy, rounds=rounds, local_epochs=local_epochs,
                        mu=mu, seed=seed, timeout_s=timeout, val_fraction=val_fraction,
                        secure_agg=secure_agg, dp_clip=dp_clip, dp_noise=dp_noise)
    p = predict_proba(res.model(a.X.shape[1]), res.standardise(b.X))
    rep = binary_report(b.y, p, n_boot=500, seed=seed)
    run = RunDir.create(f"federated-{strategy}", out)
    run.save_config({"sites": sites, "strategy": strategy, "rounds": rounds, "local_epochs": local_epochs, "mu": mu,
                     "limit": limit, "timeout": timeout, "secure_agg": secure_agg,
                     "dp_clip": dp_clip, "dp_noise": dp_noise}, seed=seed)
    run.save_datasets([a.provenance, b.provenance])
    site_info = [{"site": i, "name": ICU_NAMES.get(i + 1) if sites == 4 else f"site {i}", "n": int(len(ix)),
                  "n_pos": int(a.y[ix].sum())} for i, ix in enumerate(idx)]
    run.save_metrics({"test_set_b": {k: vars(v) for k, v in rep.items()}, "rounds": res.rounds, "sites": site_info,
                      "sites_without_positives": res.sites_without_positives,
                      "dropped_sites": res.dropped_sites, "best_round": res.best_round, "seconds": res.seconds,
                      "site_level_dp": None if res.dp_epsilon is None else
                      {"epsilon": res.dp_epsilon, "delta": 1e-5, "clip": dp_clip, "noise_multiplier": dp_noise}})
    typer.echo(f"set B AUROC {rep['auroc']}: round {res.best_round} of {len(res.rounds)} over {sites} sites "
               f"({strategy}{', secure aggregation' if secure_agg else ''})")
    typer.echo(f"Run directory: {run.path}")
