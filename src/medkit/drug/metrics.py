"""The MOSES generation metrics (Polykovskiy et al. 2020), implemented for medkit.

Definitions follow the MOSES paper and reference code so that values are comparable with its published tables
(tests check equality with molsets on a fixed sample): validity, unique@k, novelty, internal diversity (IntDiv,
IntDiv2), filters (MCF + PAINS, allowed atoms, no charges, no ring ≥ 8), FCD, SNN, Frag, Scaf similarity and
Wasserstein distances of logP/SA/QED/weight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from medkit.core.errors import DataError
from medkit.drug.chem import canonical, quiet_rdkit

__all__ = ["GenerationMetrics", "ReferenceStats", "evaluate_generation", "moses_sample", "random_rows", "fingerprints", "fraction_passes_filters",
           "fraction_unique", "fraction_valid", "frag_similarity", "internal_diversity", "mol_passes_filters",
           "novelty", "reference_stats", "scaf_similarity", "snn", "tanimoto_agg"]


def _mol(s: Any) -> Any:
    from rdkit import Chem

    if not isinstance(s, str):
        return s
    if not s:
        return None
    quiet_rdkit()
    mol = Chem.MolFromSmiles(s)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return None
    return mol


def fraction_valid(gen: Sequence[str]) -> float:
    """Share of strings RDKit parses and sanitises."""
    if not gen:
        raise DataError("no molecules to evaluate", where="validity", fix="generate at least one molecule")
    return 1.0 - sum(_mol(s) is None for s in gen) / len(gen)


def fraction_unique(valid_canonical: Sequence[str], k: int | None = None) -> float:
    """unique@k: distinct canonical SMILES among the first ``k`` valid molecules (all if fewer)."""
    gen = list(valid_canonical)[:k] if k is not None else list(valid_canonical)
    if not gen:
        return float("nan")
    return len({canonical(s) for s in gen}) / len(gen)


def novelty(valid_canonical: Sequence[str], train: set[str] | Sequence[str]) -> float:
    """Share of distinct valid generated molecules not in ``train`` (canonical SMILES as shipped by MOSES)."""
    gen = {canonical(s) for s in valid_canonical} - {None}
    if not gen:
        return float("nan")
    train_set = train if isinstance(train, set) else set(train)
    return len(gen - train_set) / len(gen)


def fingerprints(mols: Sequence[Any], radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """``(n, n_bits)`` uint8 Morgan bit vectors (ECFP4 at radius 2, as MOSES)."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.uint8)
    for i, m in enumerate(mols):
        mol = _mol(m)
        if mol is not None:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


def tanimoto_agg(ref: np.ndarray, gen: np.ndarray, agg: str = "max", p: int = 1, batch: int = 5000) -> float:
    """Mean over ``gen`` rows of the max (or mean) Tanimoto similarity to ``ref`` rows; float32 as MOSES."""
    agg_v = np.zeros(len(gen))
    total = np.zeros(len(gen))
    for j in range(0, len(ref), batch):
        x = ref[j:j + batch].astype(np.float32)
        for i in range(0, len(gen), batch):
            y = gen[i:i + batch].astype(np.float32).T
            tp = x @ y
            with np.errstate(invalid="ignore", divide="ignore"):
                jac = tp / (x.sum(1, keepdims=True) + y.sum(0, keepdims=True) - tp)
            jac[np.isnan(jac)] = 1.0  # two empty fingerprints count as identical (MOSES convention)
            if p != 1:
                jac = jac ** p
            if agg == "max":
                agg_v[i:i + y.shape[1]] = np.maximum(agg_v[i:i + y.shape[1]], jac.max(0))
            else:
                agg_v[i:i + y.shape[1]] += jac.sum(0)
                total[i:i + y.shape[1]] += jac.shape[0]
    if agg == "mean":
        agg_v /= total
    if p != 1:
        agg_v = agg_v ** (1 / p)
    return float(np.mean(agg_v))


def internal_diversity(mols: Sequence[Any], p: int = 1, fps: np.ndarray | None = None) -> float:
    """IntDiv_p = 1 − (mean over all ordered pairs, self-pairs included, of Tanimoto^p)^(1/p)."""
    f = fingerprints(mols) if fps is None else fps
    return 1.0 - tanimoto_agg(f, f, agg="mean", p=p)


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray) -> float:
    """Mean Tanimoto similarity of each generated molecule to its nearest neighbour in the reference."""
    return tanimoto_agg(ref_fps, gen_fps, agg="max")


def _cos(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return float("nan")
    keys = sorted(set(a) | set(b))
    va = np.array([a.get(k, 0) for k in keys], dtype=float)
    vb = np.array([b.get(k, 0) for k in keys], dtype=float)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def fragment_counts(mols: Sequence[Any]) -> Counter[str]:
    """Counts of BRICS fragments (canonical SMILES with dummy atoms)."""
    from rdkit import Chem

    c: Counter[str] = Counter()
    for m in mols:
        c.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(_mol(m))).split("."))
    return c


def scaffold_counts(mols: Sequence[Any], min_rings: int = 2) -> Counter[str]:
    """Counts of Bemis–Murcko scaffolds with at least ``min_rings`` rings (MOSES' default 2)."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    c: Counter[str] = Counter()
    for m in mols:
        try:
            sc = MurckoScaffold.GetScaffoldForMol(_mol(m))
        except (ValueError, RuntimeError):
            continue
        smi = Chem.MolToSmiles(sc)
        if smi and sc.GetRingInfo().NumRings() >= min_rings:
            c[smi] += 1
    return c


def frag_similarity(gen: Counter[str], ref: Counter[str]) -> float:
    """Cosine similarity of BRICS fragment frequency vectors."""
    return _cos(ref, gen)


def scaf_similarity(gen: Counter[str], ref: Counter[str]) -> float:
    """Cosine similarity of scaffold frequency vectors."""
    return _cos(ref, gen)


_FILTERS: list[Any] = []


def _filter_patterns() -> list[Any]:
    # The MCF and PAINS SMARTS lists are data files shipped in the molsets wheel (MIT); read, not imported.
    if not _FILTERS:
        import pandas as pd
        from rdkit import Chem

        from medkit.data.paths import package_file

        mcf = pd.read_csv(package_file("moses", "metrics/mcf.csv", "moses-filters"))
        pains = pd.read_csv(package_file("moses", "metrics/wehi_pains.csv", "moses-filters"), names=["smarts", "names"])
        smarts = pd.concat([mcf, pains], sort=True)["smarts"].to_numpy()
        _FILTERS.extend(Chem.MolFromSmarts(s) for s in smarts)
    return _FILTERS


_ALLOWED = {"C", "N", "S", "O", "F", "Cl", "Br", "H"}


def mol_passes_filters(m: Any) -> bool:
    """MOSES filter: no ring ≥ 8 atoms, no charge, only C N S O F Cl Br H, no MCF/PAINS alert."""
    from rdkit import Chem

    mol = _mol(m)
    if mol is None:
        return False
    if any(len(r) >= 8 for r in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in _ALLOWED for a in mol.GetAtoms()):
        return False
    h_mol = Chem.AddHs(mol)
    if any(h_mol.HasSubstructMatch(p) for p in _filter_patterns()):
        return False
    smi = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smi) and Chem.MolFromSmiles(smi) is not None


def fraction_passes_filters(mols: Sequence[Any]) -> float:
    return float(np.mean([mol_passes_filters(m) for m in mols]))


@dataclass
class ReferenceStats:
    """Precomputed statistics of a reference set (test or scaffold-test) for FCD, SNN, Frag, Scaf."""

    fcd: Any
    fps: np.ndarray
    frag: Counter[str]
    scaf: Counter[str]


def moses_sample(split: str, n: int | None = None, seed: int = 0, data_dir: Any = None) -> list[str]:
    """``n`` rows of a MOSES split drawn at random (seeded, kept in file order); ``None`` = the whole split.

    Why not the first ``n`` rows: the MOSES files are not in random order. Measured with medkit's FCD: the first
    5,000 train rows vs 5,000 random train rows give FCD 6.3, the first 10,000 test rows vs 10,000 random test rows
    3.5, while random train vs random test give 0.24 — a prefix is a biased sample for training and reference.
    """
    from medkit.data import load_dataset

    return random_rows(load_dataset("moses", split=split, data_dir=data_dir).data, n, seed)


def random_rows(rows: Sequence[str], n: int | None, seed: int = 0) -> list[str]:
    """``n`` of ``rows`` drawn without replacement (seeded), in their original order; ``None`` = all."""
    if n is None or n >= len(rows):
        return list(rows)
    if n < 1:
        raise DataError(f"asked for {n} molecules", where="random_rows", fix="ask for at least one")
    return [rows[i] for i in np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))]


def reference_stats(smiles: Sequence[str], *, with_fcd: bool = True) -> ReferenceStats:
    from medkit.drug.fcd import fcd_stats

    mols = [_mol(s) for s in smiles]
    return ReferenceStats(fcd_stats(list(smiles)) if with_fcd else None, fingerprints(mols), fragment_counts(mols),
                          scaffold_counts(mols))


@dataclass
class GenerationMetrics:
    """MOSES metrics of one generated set; ``*_test`` against MOSES test, ``*_testsf`` against scaffold-test."""

    n: int
    validity: float
    unique: dict[str, float] = field(default_factory=dict)
    novelty: float | None = None
    intdiv: float = float("nan")
    intdiv2: float = float("nan")
    filters: float = float("nan")
    fcd_test: float | None = None
    snn_test: float | None = None
    frag_test: float | None = None
    scaf_test: float | None = None
    fcd_testsf: float | None = None
    snn_testsf: float | None = None
    frag_testsf: float | None = None
    scaf_testsf: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [{"metric": "validity", "value": self.validity}]
        rows += [{"metric": k, "value": v} for k, v in self.unique.items()]
        for k in ("novelty", "intdiv", "intdiv2", "filters", "fcd_test", "snn_test", "frag_test", "scaf_test",
                  "fcd_testsf", "snn_testsf", "frag_testsf", "scaf_testsf"):
            v = getattr(self, k)
            if v is not None:
                rows.append({"metric": k.replace("_test", "/test"), "value": v})
        return rows


def evaluate_generation(gen: Sequence[str], *, train: set[str] | Sequence[str] | None = None,
                        test: ReferenceStats | None = None, test_scaffolds: ReferenceStats | None = None,
                        ks: Sequence[int] = (1000, 10000)) -> GenerationMetrics:
    """All MOSES metrics of ``gen`` (raw generated strings, invalid ones included).

    unique@k is reported under ``unique@1k``/``unique@10k`` and only for k ≤ the number of valid molecules.
    """
    from medkit.drug.fcd import fcd

    gen = list(gen)
    valid = [c for c in (canonical(s) for s in gen) if c is not None]
    out = GenerationMetrics(n=len(gen), validity=fraction_valid(gen))
    if not valid:
        return out
    for k in ks:
        if len(valid) >= k:
            out.unique[f"unique@{k // 1000}k" if k % 1000 == 0 else f"unique@{k}"] = fraction_unique(valid, k)
    mols = [_mol(s) for s in valid]
    fps = fingerprints(mols)
    out.intdiv = internal_diversity(mols, fps=fps)
    out.intdiv2 = internal_diversity(mols, p=2, fps=fps)
    out.filters = fraction_passes_filters(mols)
    if train is not None:
        out.novelty = novelty(valid, train)
    frag, scaf = fragment_counts(mols), scaffold_counts(mols)
    for suffix, ref in (("test", test), ("testsf", test_scaffolds)):
        if ref is None:
            continue
        if ref.fcd is not None and len(valid) >= 2:
            setattr(out, f"fcd_{suffix}", fcd(valid, ref.fcd))
        setattr(out, f"snn_{suffix}", snn(fps, ref.fps))
        setattr(out, f"frag_{suffix}", frag_similarity(frag, ref.frag))
        setattr(out, f"scaf_{suffix}", scaf_similarity(scaf, ref.scaf))
    return out
