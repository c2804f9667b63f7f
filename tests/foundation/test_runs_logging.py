"""Run directories never lose stored content; logs never carry identifiers."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from medkit.core.errors import DataError
from medkit.core.logging import get_logger, redact
from medkit.core.registry import Registry
from medkit.core.runs import RunDir, list_runs
from medkit.core.seed import seed_everything


def test_run_dir_is_never_reused(tmp_path: Path) -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    a = RunDir.create("exp", tmp_path, now=now)
    a.save_metrics({"auroc": 0.9})
    b = RunDir.create("exp", tmp_path, now=now)  # same second, same name
    assert a.path != b.path
    assert json.loads((a.path / "metrics.json").read_text()) == {"auroc": 0.9}
    assert [r.path for r in list_runs(tmp_path)] == sorted([a.path, b.path], reverse=True)
    info = a.read_json("run.json")
    assert "numpy" in info["versions"] and info["name"] == "exp"


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    run = RunDir.create("exp", tmp_path)
    run.save_metrics({"ok": 1})
    with pytest.raises(TypeError):
        run.save_metrics({"bad": object()})
    assert run.read_json("metrics.json") == {"ok": 1}
    assert not [p for p in run.path.iterdir() if p.name.startswith(".metrics")]


def test_open_non_run_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a medkit run directory"):
        RunDir.open(tmp_path)


def test_redaction() -> None:
    text = "pt John seen 2024-03-05, call 617-555-1234, mrn 12345678, mail a.b@c.org, ssn 123-45-6789"
    out = redact(text)
    for secret in ("2024-03-05", "617-555-1234", "12345678", "a.b@c.org", "123-45-6789"):
        assert secret not in out
    assert "[DATE]" in out and "[PHONE]" in out


def test_logger_redacts(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("medkit.test")
    with caplog.at_level(logging.INFO, logger="medkit"):
        log.info("patient phone %s", "617-555-1234")
    assert "617-555-1234" not in caplog.text and "[PHONE]" in caplog.text


def test_registry_errors() -> None:
    r: Registry[int] = Registry("model")
    r.add("a", 1)
    with pytest.raises(Exception, match="registered twice"):
        r.add("a", 2)
    with pytest.raises(Exception, match="use one of: a"):
        r.get("b")


def test_seed_everything_repeatable() -> None:
    import numpy as np
    import torch

    seed_everything(5)
    a = (np.random.rand(3), torch.rand(3))
    seed_everything(5)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
