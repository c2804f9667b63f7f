"""Datasets of the treatment pillar (registered with :func:`medkit.data.register_dataset`).

``gdsc2``: the GDSC2 ln(IC50) cell line × drug matrix (TGSA / DRPreter copy) with the cell lines' mutation
profiles, the drugs' SMILES and the DepMap cell-line annotations. Read from the data directory
(``drug_response/``); see its SOURCE.md for the full provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import DataError
from medkit.data.paths import require_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset

GDSC2_FOLDER = "drug_response"
GDSC2_FILES = {
    "response": "baseline_GDSC2_IC50.csv",
    "mutations": "baseline_mut.csv",
    "smiles": "drug_smiles.csv",
    "cell_lines": "sample_info.csv",
}
# sha256 of each file as recorded in drug_response/SOURCE.md; checked on load so a changed copy is noticed.
GDSC2_SHA256 = {
    "baseline_GDSC2_IC50.csv": "c28ff315e7e832f23b32b1e5b4e9a0aa7e8559fd8dd363ee3c1999d272fcab69",
    "baseline_mut.csv": "69f746792fdb7b0c140777499550f40f67741bbd34f1cedc407b3cd33f8d2889",
    "drug_smiles.csv": "7cc578a3419549cf3a032c4b2a4e9e06b33e284fb06d531a5a7d23e27f0d8b97",
    "sample_info.csv": "4c106b90c48d753aa0a963edbc18ca8a3392331e5a7952369cca57ea97f3261d",
}


@register_dataset(
    "gdsc2",
    task="matrix-completion",
    description="GDSC2 drug response: ln(IC50) of 580 cancer cell lines x 170 drugs (82,833 observed, 84%), "
    "with 702-gene binary mutation profiles, drug SMILES and DepMap lineage annotations (TGSA/DRPreter copy).",
    licence="unknown: GDSC (Sanger/MGH) and DepMap (Broad) data terms apply; TGSA/DRPreter code is MIT. "
    "Check cancerrxgene.org and depmap.org before redistributing.",
    citation="Yang W et al. Genomics of Drug Sensitivity in Cancer (GDSC). Nucleic Acids Res 2013;41:D955-61. "
    "Iorio F et al. A landscape of pharmacogenomic interactions in cancer. Cell 2016;166:740-54. "
    "Zhu Y et al. TGSA. Bioinformatics 2022;38:461-8.",
    source="data-dir:drug_response/baseline_GDSC2_IC50.csv",
    pillar="treatment",
    url="https://github.com/babaling/DRPreter",
)
def load_gdsc2(info: DatasetInfo, data_dir: Any = None, check_sha256: bool = True) -> Dataset:
    """Load GDSC2 as a dict of aligned tables.

    Returns
    -------
    Dataset
        ``data`` is a dict with ``response`` (DataFrame, cell lines × drugs, ln(IC50) in µM per GDSC's
        ``LN_IC50``, NaN = not measured), ``mutations`` (DataFrame, cell lines × 702 genes, 0/1),
        ``smiles`` (Series, drug → canonical SMILES), ``cell_lines`` (DataFrame, lineage and
        primary_disease per cell line). Rows of ``response`` and ``mutations`` are in the same order.
    """
    paths = {k: require_file(f"{GDSC2_FOLDER}/{f}", info.name, data_dir) for k, f in GDSC2_FILES.items()}
    ds_files = list(paths.values())
    response = pd.read_csv(paths["response"], index_col=0)
    # The index column is headed COSMIC_ID in the file but holds DepMap IDs (SOURCE.md, "Gotcha").
    response.index.name = "depmap_id"
    mutations = pd.read_csv(paths["mutations"], index_col=0)
    mutations.index.name = "depmap_id"
    smiles_df = pd.read_csv(paths["smiles"])
    info_df = pd.read_csv(paths["cell_lines"], usecols=["DepMap_ID", "cell_line_name", "lineage", "primary_disease"])
    _check_gdsc2(response, mutations, smiles_df, info_df, paths)
    smiles = smiles_df.set_index("drug_name")["CanonicalSMILES"].reindex(response.columns)
    cell_lines = info_df.set_index("DepMap_ID").reindex(response.index)
    mutations = mutations.reindex(response.index).astype(np.float32)
    dataset = Dataset(
        info,
        {"response": response, "mutations": mutations, "smiles": smiles, "cell_lines": cell_lines},
        ds_files,
        n_rows=int(response.notna().to_numpy().sum()),
        n_patients=None,
        groups=response.index.to_numpy(),
        extra={"n_cell_lines": response.shape[0], "n_drugs": response.shape[1], "unit": "ln(IC50 / uM)"},
    )
    if check_sha256:
        for name, digest in dataset.checksums.items():
            want = GDSC2_SHA256.get(name)
            if want is not None and digest != want:
                raise DataError(f"{name} does not match the sha256 recorded in SOURCE.md",
                                where=str(paths_by_name(paths)[name]),
                                fix="restore the original drug_response folder, or pass check_sha256=False "
                                    "knowing that results will not match published numbers")
    return dataset


def paths_by_name(paths: dict[str, Path]) -> dict[str, Path]:
    return {p.name: p for p in paths.values()}


def _check_gdsc2(response: pd.DataFrame, mutations: pd.DataFrame, smiles: pd.DataFrame, info_df: pd.DataFrame,
                 paths: dict[str, Path]) -> None:
    if response.index.duplicated().any() or response.columns.duplicated().any():
        raise DataError("response matrix has duplicate cell-line or drug labels", where=str(paths["response"]),
                        fix="restore the original file")
    bad = [c for c in response.columns if not pd.api.types.is_numeric_dtype(response[c])]
    if bad:
        raise DataError(f"response column '{bad[0]}' is not numeric", where=f"{paths['response']}:{bad[0]}",
                        fix="ln(IC50) cells must be numbers or empty")
    missing = response.index.difference(mutations.index)
    if len(missing):
        raise DataError(f"{len(missing)} cell lines of the response matrix have no mutation profile "
                        f"(first: {missing[0]})", where=str(paths["mutations"]), fix="restore the original files")
    no_smiles = pd.Index(response.columns).difference(pd.Index(smiles["drug_name"]))
    if len(no_smiles):
        raise DataError(f"{len(no_smiles)} drugs have no SMILES (first: {no_smiles[0]})", where=str(paths["smiles"]),
                        fix="restore the original drug_smiles.csv")
    no_info = response.index.difference(pd.Index(info_df["DepMap_ID"]))
    if len(no_info):
        raise DataError(f"{len(no_info)} cell lines have no annotation (first: {no_info[0]})",
                        where=str(paths["cell_lines"]), fix="restore the original sample_info.csv")
