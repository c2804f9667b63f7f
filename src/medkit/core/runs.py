"""Run directories: every run writes ``runs/<timestamp>-<name>/`` with everything needed
to re-derive its figures (resolved config, seed, package versions, data checksums,
metrics, artefacts, plots, report).

A run directory is never overwritten: creating one whose path exists raises, and
files inside are written atomically (temp file + rename) so that a crash leaves the
previous content intact.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from medkit.core.errors import ConfigError, DataError

_TRACKED_PACKAGES = [
    "medkit", "numpy", "pandas", "scipy", "scikit-learn", "torch", "scikit-survival",
    "lifelines", "rdkit", "monai", "pydicom", "opacus", "flwr", "shap", "captum",
]


def package_versions(names: list[str] | None = None) -> dict[str, str]:
    """Installed versions of the packages a run depends on (missing ones omitted)."""
    out = {"python": platform.python_version()}
    for name in names or _TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    if not slug:
        raise ConfigError(f"run name {name!r} has no usable characters", where="run name", fix="use letters/digits")
    return slug


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and rename, so a crash never truncates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=_json_default, sort_keys=False)


@dataclass
class RunDir:
    """A run directory. Create with :meth:`create`, reopen with :meth:`open`."""

    path: Path
    name: str
    files: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, root: str | Path = "runs", *, now: _dt.datetime | None = None) -> RunDir:
        stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{stamp}-{_slug(name)}"
        path = base
        n = 1
        while path.exists():  # never reuse an existing run directory
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        run = cls(path=path, name=name)
        run.write_json("run.json", {
            "name": name,
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "versions": package_versions(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        })
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        p = Path(path)
        if not (p / "run.json").is_file():
            raise DataError(f"not a medkit run directory: {p}", where=str(p), fix="pass a path from `medkit runs list`")
        info = json.loads((p / "run.json").read_text())
        return cls(path=p, name=info.get("name", p.name))

    # -- writers -------------------------------------------------------------------
    def write_json(self, rel: str, obj: Any) -> Path:
        target = self.path / rel
        atomic_write_text(target, dumps(obj))
        self.files.append(rel)
        return target

    def write_text(self, rel: str, text: str) -> Path:
        target = self.path / rel
        atomic_write_text(target, text)
        self.files.append(rel)
        return target

    def update_json(self, rel: str, **values: Any) -> Path:
        """Merge ``values`` into an existing JSON object file (creating it if absent)."""
        target = self.path / rel
        data = json.loads(target.read_text()) if target.exists() else {}
        data.update(values)
        return self.write_json(rel, data)

    def save_config(self, config: Any, seed: int | None = None) -> None:
        data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        self.write_json("config.json", {"config": data, "seed": seed})

    def save_datasets(self, provenance: list[dict[str, Any]]) -> None:
        self.write_json("datasets.json", provenance)

    def save_metrics(self, metrics: Any) -> None:
        self.write_json("metrics.json", metrics)

    def sub(self, rel: str) -> Path:
        p = self.path / rel
        p.mkdir(parents=True, exist_ok=True)
        return p

    def read_json(self, rel: str) -> Any:
        return json.loads((self.path / rel).read_text())


def list_runs(root: str | Path = "runs") -> list[RunDir]:
    """Run directories under ``root``, newest first."""
    r = Path(root)
    if not r.is_dir():
        return []
    runs = [RunDir.open(p) for p in r.iterdir() if (p / "run.json").is_file()]
    return sorted(runs, key=lambda x: x.path.name, reverse=True)
