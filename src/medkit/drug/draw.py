"""2D drawings: molecules and per-atom attributions (RDKit SVG or PNG), for reports and the web UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.errors import ConfigError, DataError
from medkit.drug.predictors import AtomAttribution

__all__ = ["draw_attributions", "molecule_svg"]


def molecule_svg(smiles: str, size: tuple[int, int] = (260, 200), legend: str = "") -> str:
    """Inline SVG of a molecule (no XML header, safe to embed in HTML)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    from medkit.drug.chem import mol_from_smiles

    mol = mol_from_smiles(smiles)
    if mol is None:
        raise DataError(f"cannot draw invalid SMILES {smiles!r}", where="molecule_svg", fix="pass a valid SMILES")
    d = rdMolDraw2D.MolDraw2DSVG(*size)
    rdMolDraw2D.PrepareAndDrawMolecule(d, mol, legend=legend)
    d.FinishDrawing()
    svg = d.GetDrawingText()
    return svg[svg.find("<svg"):]


def draw_attributions(attr: AtomAttribution, path: str | Path | None = None, *, fmt: str = "svg",
                      size: tuple[int, int] = (360, 300)) -> str | bytes:
    """Draw per-atom attributions as a similarity map (green raises the prediction, pink lowers it).

    Returns the SVG text or PNG bytes; with ``path`` also writes them there.
    """
    from rdkit.Chem.Draw import SimilarityMaps, rdMolDraw2D

    from medkit.drug.chem import mol_from_smiles

    if fmt not in {"svg", "png"}:
        raise ConfigError(f"unknown format {fmt!r}", where="fmt", fix="use 'svg' or 'png'")
    mol = mol_from_smiles(attr.smiles)
    w = np.asarray(attr.weights, dtype=float)
    if mol is None or mol.GetNumAtoms() != len(w):
        raise DataError("attribution does not match its molecule", where="draw_attributions",
                        fix="pass the AtomAttribution returned by explain() unchanged")
    d: Any = rdMolDraw2D.MolDraw2DSVG(*size) if fmt == "svg" else rdMolDraw2D.MolDraw2DCairo(*size)
    scale = float(np.abs(w).max()) or 1.0
    SimilarityMaps.GetSimilarityMapFromWeights(mol, list(w / scale), draw2d=d, colorMap="PiYG")
    d.FinishDrawing()
    out: str | bytes = d.GetDrawingText()
    if path is not None:
        p = Path(path)
        if isinstance(out, str):
            p.write_text(out)
        else:
            p.write_bytes(out)
    return out
