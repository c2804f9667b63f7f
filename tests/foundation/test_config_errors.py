"""Config loading, overrides and the error messages they produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from medkit.core.config import apply_overrides, load_config, parse_override
from medkit.core.errors import ConfigError, MedkitError
from medkit.workflows.tabular import TabularRunConfig


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    return p


def test_load_and_override(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name = "x"\nseed = 3\n[model]\nkind = "logistic"\n')
    cfg = load_config(p, TabularRunConfig, ["model.kind=gbm", "evaluation.n_splits=3", "seed=7"])
    assert cfg.model.kind == "gbm"
    assert cfg.evaluation.n_splits == 3
    assert cfg.seed == 7
    assert cfg.name == "x"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    p = _write(tmp_path, "[model]\nkindd = 'gbm'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, TabularRunConfig)
    msg = str(e.value)
    assert "model.kindd" in msg and "kind" in msg and str(p) in msg


def test_wrong_type_is_named(tmp_path: Path) -> None:
    p = _write(tmp_path, "seed = 'abc'\n")
    with pytest.raises(ConfigError, match="'seed'"):
        load_config(p, TabularRunConfig)


def test_override_wrong_type_and_value(tmp_path: Path) -> None:
    p = _write(tmp_path, "")
    with pytest.raises(ConfigError, match="evaluation.n_splits"):
        load_config(p, TabularRunConfig, ["evaluation.n_splits=1"])
    with pytest.raises(ConfigError, match="model.kind"):
        load_config(p, TabularRunConfig, ["model.kind=svm"])


def test_override_parsing() -> None:
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=hello") == (["a"], "hello")
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    with pytest.raises(ConfigError):
        parse_override("novalue")
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_missing_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", TabularRunConfig)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "name = = 1"), TabularRunConfig)


def test_error_format_has_what_where_fix() -> None:
    e = MedkitError("thing broke", where="file.csv:row 3", fix="repair it")
    assert str(e) == "thing broke (at file.csv:row 3). Fix: repair it."
