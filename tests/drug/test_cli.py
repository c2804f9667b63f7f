"""CLI round trip: generate (train + sample) → evaluate-generation → screen, on tiny real MOSES subsets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from medkit.cli.main import app


def test_generate_evaluate_screen(tmp_path: Path) -> None:
    r = CliRunner()
    gen = tmp_path / "gen.smi"
    res = r.invoke(app, ["drug", "generate", "--n-train", "300", "--epochs", "1", "--n", "60", "--hidden", "64", "--out", str(gen),
                         "--save-generator", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    assert len(gen.read_text().splitlines()) == 60
    from medkit.drug.batching import bf16_supported

    def budget_run(prec: str) -> Any:
        return r.invoke(app, ["drug", "generate", "--n-train", "300", "--epochs", "3", "--n", "7", "--hidden", "32",
                              "--layers", "1", "--max-minutes", "0.01", "--precision", prec, "--out",
                              str(tmp_path / "budget.smi"), "--save-generator", str(tmp_path / "gb")])

    prec = "bf16" if bf16_supported() else "fp32"
    if prec == "fp32":  # a CPU without native bf16: the CLI refuses bf16 with medkit's message
        bad = budget_run("bf16")
        assert bad.exit_code != 0 and "native bf16" in f"{bad.output}{bad.exception}", bad.output
    res = budget_run(prec)
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "budget.smi").read_text().splitlines()) == 7
    from medkit.drug.generators import load_generator

    gb = load_generator(tmp_path / "gb")
    assert (gb.precision, gb.layers, gb.max_seconds) == (prec, 1, 0.6)
    res = r.invoke(app, ["drug", "generate", "--generator", str(tmp_path / "g"), "--n", "5", "--out",
                         str(tmp_path / "more.csv")])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "more.csv")) == 5
    # add known molecules so that the metrics and the funnel have valid input whatever the 1-epoch model emits
    from medkit.data import load_dataset

    test = load_dataset("moses", split="test", n=40).data
    gen.write_text(gen.read_text() + "\n".join(test) + "\n")
    res = r.invoke(app, ["drug", "evaluate-generation", str(gen), "--n-test", "100", "--n-train", "500", "--out",
                         str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n"] == 100 and 0.4 <= m["validity"] <= 1.0 and m["fcd_test"] is not None
    ref = tmp_path / "train.smi"
    ref.write_text("\n".join(load_dataset("moses", split="train", n=500).data))
    res = r.invoke(app, ["drug", "screen", str(gen), "--train-ref", str(ref), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s" / "report.html").is_file()
    table = pd.read_csv(tmp_path / "s" / "screen.csv")
    assert table["smiles"].is_unique
    res = r.invoke(app, ["drug", "screen", str(gen), "--objective", "nope:+1", "--train-ref", str(ref)])
    assert res.exit_code != 0
