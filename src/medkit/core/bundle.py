"""Model bundles: the unit that ``predict`` commands load and ``medkit serve`` registers.

A bundle is a directory::

    bundle.json      {"pillar", "kind", "name", "created", "medkit_version", "inputs", "outputs",
                      "metrics", "label_map", "preprocessing", "run_dir", ...}
    model.*          the artefact(s), written by the pillar (joblib, torch state dict, ONNX)
    model_card.md    optional, written by medkit.reporting

``bundle.json`` is written last and records the sha256 of every ``model.*`` artefact (``files``).
:func:`load_bundle_info` checks them before any loader unpickles an artefact, so a bundle whose artefact was
changed, truncated, swapped or added after it was written is refused with a :class:`ModelError`. This is an
integrity check (corruption, partial copies, edits), not a signature: anyone who can rewrite the artefact can
rewrite ``bundle.json`` too. Pickles run code when loaded: load bundles only from sources you trust.

:func:`bundle_digest` is the whole-bundle sha256 the serve registry records; it reads each file once and also
returns the artefacts' own digests, which :func:`reuse_digests` lends to :func:`verify_bundle` so that a bundle
checked both ways (registration, first load by ``medkit serve``) is read once, not twice (unless an artefact
changed moments before; see :func:`bundle_digest`).

Each pillar provides ``medkit.<pillar>.serving.load_predictor(bundle_dir) -> Predictor``;
``medkit serve`` dispatches on ``bundle.json["pillar"]``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from medkit.core.errors import ModelError
from medkit.core.hashing import sha256_file
from medkit.core.runs import atomic_write_text, dumps


@dataclass
class BundleInfo:
    """Metadata of a model bundle (``bundle.json``)."""

    pillar: str
    kind: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    label_map: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))
    medkit_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each ``model.*`` artefact, recorded by :func:`save_bundle_info` (do not set by hand)."""


def _artefacts(bundle: Path) -> list[Path]:
    """The files a loader may unpickle: ``model.*`` (``model_card.*`` is documentation, not an artefact)."""
    return sorted(f for f in bundle.iterdir() if f.is_file() and f.name.startswith("model."))


def save_bundle_info(path: str | Path, info: BundleInfo) -> Path:
    """Write ``bundle.json`` into ``path``, after the artefacts: their sha256 digests are recorded in it."""
    from medkit import __version__

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    info.medkit_version = info.medkit_version or __version__
    info.files = {f.name: sha256_file(f) for f in _artefacts(p)}
    atomic_write_text(p / "bundle.json", dumps(info.__dict__))
    return p / "bundle.json"


StatKey = tuple[int, int, int, int, int]  # (device, inode, size, mtime_ns, ctime_ns)


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class BundleDigest:
    """What :func:`bundle_digest` read: the whole-bundle sha256 and each artefact's own sha256."""

    sha256: str
    """One sha256 over every file of the bundle (sorted), each preceded by its relative path, so renames count."""
    artefacts: dict[str, tuple[StatKey, str]] = field(default_factory=dict)
    """``resolved path -> (stat key when read, sha256)`` of the top-level ``model.*`` files safe to reuse."""


_RACY_NS = 2_000_000_000
"""An artefact changed (ctime) less than this before it was read gets no reusable digest (see bundle_digest)."""


def bundle_digest(path: str | Path) -> BundleDigest:
    """Hash every file of the bundle in ``path`` once: the whole-bundle digest and the artefacts' own digests.

    A per-artefact digest is kept for :func:`reuse_digests` only when the stat key shows the file was not written
    while it was read and its last change (ctime) is over ``_RACY_NS`` older than the read. Why: file times
    advance in clock ticks (milliseconds; seconds on some file systems), so a same-size rewrite within the tick of
    the last change could leave the stat key as it was; a change made after the read is later than that tick and
    always changes the ctime (which, unlike mtime, cannot be set back by ``os.utime``). Others are read again.
    """
    bundle = Path(path)
    whole = hashlib.sha256()
    artefacts: dict[str, tuple[StatKey, str]] = {}
    for f in sorted(x for x in bundle.rglob("*") if x.is_file()):
        whole.update(str(f.relative_to(bundle)).encode())
        own = hashlib.sha256() if f.parent == bundle and f.name.startswith("model.") else None
        started = time.time_ns()
        with open(f, "rb") as fh:
            before = _stat_key(os.fstat(fh.fileno()))
            while block := fh.read(1 << 20):
                whole.update(block)
                if own is not None:
                    own.update(block)
            after = _stat_key(os.fstat(fh.fileno()))
        if own is not None and before == after and after[4] < started - _RACY_NS:
            artefacts[str(f.resolve())] = (after, own.hexdigest())
    return BundleDigest(whole.hexdigest(), artefacts)


_KNOWN: ContextVar[dict[str, tuple[StatKey, str]] | None] = ContextVar("medkit_bundle_digests", default=None)


@contextmanager
def reuse_digests(digest: BundleDigest | None) -> Iterator[None]:
    """Inside the block, :func:`verify_bundle` takes an artefact's sha256 from ``digest`` instead of reading the
    file again, if the file's stat key (device, inode, size, mtime_ns, ctime_ns) is still the one it had when
    ``digest`` read it; any other file, or a file touched since, is read and hashed as usual."""
    token = _KNOWN.set(None if digest is None else digest.artefacts)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _artefact_sha256(f: Path) -> str:
    known = _KNOWN.get()
    hit = known.get(str(f.resolve())) if known else None
    if hit is not None and hit[0] == _stat_key(os.stat(f)):
        return hit[1]
    return sha256_file(f)


def verify_bundle(path: str | Path, info: BundleInfo) -> None:
    """Check that the artefacts in ``path`` are the ones recorded in ``info.files``; raise :class:`ModelError`."""
    p = Path(path)
    fix = "re-create the bundle with `medkit <pillar> train`, or restore the directory from a trusted copy"
    if not info.files:
        raise ModelError("bundle.json records no artefact checksums (written by hand or by an earlier medkit), so "
                         "its model files cannot be checked before loading; it was not loaded", where=str(p), fix=fix)
    for name, digest in sorted(info.files.items()):
        f = p / name
        if Path(name).name != name or not name.startswith("model."):
            raise ModelError(f"bundle.json lists an invalid artefact name {name!r}", where=str(p / "bundle.json"),
                             fix=fix)
        if not f.is_file():
            raise ModelError(f"artefact {name} listed in bundle.json is missing", where=str(f), fix=fix)
        if _artefact_sha256(f) != digest:
            raise ModelError(f"artefact {name} changed after the bundle was written (sha256 differs from "
                             "bundle.json); it was not loaded", where=str(f), fix=fix)
    extra = [f.name for f in _artefacts(p) if f.name not in info.files]
    if extra:
        raise ModelError(f"artefact(s) {', '.join(extra)} not listed in bundle.json (added after the bundle was "
                         "written); the bundle was not loaded", where=str(p / extra[0]), fix=fix)


def load_bundle_info(path: str | Path, *, verify: bool = True) -> BundleInfo:
    """Read ``bundle.json``; with ``verify`` (the default) also check the artefacts' digests (:func:`verify_bundle`)."""
    p = Path(path) / "bundle.json"
    if not p.is_file():
        raise ModelError(f"not a medkit model bundle (no bundle.json): {Path(path)}", where=str(path),
                         fix="pass a bundle directory written by `medkit <pillar> train`")
    try:
        data = json.loads(p.read_text())
        info = BundleInfo(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"bundle.json is invalid: {exc}", where=str(p), fix="re-create the bundle") from None
    if verify:
        verify_bundle(path, info)
    return info


@runtime_checkable
class Predictor(Protocol):
    """What a pillar's ``load_predictor`` returns."""

    info: BundleInfo

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        """Predict for ``inputs`` (list of row dicts, SMILES list, image bytes, ...); JSON-ready output."""
        ...
