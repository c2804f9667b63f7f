"""Configuration: pydantic models loaded from TOML with ``--set key=value`` overrides.

Validation errors are re-raised as :class:`ConfigError` naming the dotted key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from medkit.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every medkit config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value``; the value is read as a TOML literal, else kept as a string."""
    if "=" not in text:
        raise ConfigError(
            f"override '{text}' has no '='", where="--set", fix="write --set section.key=value"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key", where="--set", fix="write --set section.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key=value`` override applied."""
    out: dict[str, Any] = _deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"cannot set '{'.'.join(path)}': '{part}' is a value, not a section",
                    where="--set",
                    fix="check the key path",
                )
            node = child
        node[path[-1]] = value
    return out


def _deepcopy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy(v) if isinstance(v, dict) else v for k, v in d.items()}


def validate_config(model: type[M], data: dict[str, Any], *, source: str = "config") -> M:
    """Validate ``data`` into ``model``; errors name the dotted key and the problem."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(root)"
        kind = first["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, first["loc"][:-1])
            raise ConfigError(
                f"unknown config key '{key}'",
                where=source,
                fix=f"remove it or use one of: {', '.join(allowed)}",
            ) from None
        raise ConfigError(
            f"invalid value for config key '{key}': {first['msg']} (got {first.get('input')!r})",
            where=source,
            fix="correct the value's type or range",
        ) from None


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cur: Any = model
    for part in loc:
        field = getattr(cur, "model_fields", {}).get(part)
        if field is None or not isinstance(field.annotation, type):
            return []
        cur = field.annotation
    return sorted(getattr(cur, "model_fields", {}).keys())


def load_config(path: str | Path, model: type[M], overrides: list[str] | None = None) -> M:
    """Load a TOML file into ``model`` after applying ``overrides``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}", where=str(p), fix="pass an existing .toml file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file is not valid TOML: {exc}", where=str(p), fix="fix the TOML syntax") from None
    return validate_config(model, apply_overrides(data, overrides or []), source=str(p))
