"""Fixtures for the imaging tests: bundled conformance files and one tiny classifier trained on real Br35H images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    from medkit.data import load_dataset

    files = load_dataset("pydicom-test").files
    return Path(files[0]).parent


@pytest.fixture(scope="session")
def nibabel_data() -> Path:
    import nibabel.testing

    return Path(nibabel.testing.data_path)


@pytest.fixture(scope="session")
def br35h_16() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """16 real Br35H training images (8 per class) at 64×64, raw 0-255."""
    from medkit.data.imaging_sets import br35h_split
    from medkit.imaging.prep import load_resized

    df = br35h_split()
    sub = df[df.split == "train"].groupby("label").head(8)
    return load_resized(sub["path"].tolist(), 64).array, sub["label"].to_numpy(), sub["path"].tolist()


@pytest.fixture(scope="session")
def tiny_classifier(br35h_16: tuple[np.ndarray, np.ndarray, list[str]]):  # noqa: ANN201
    import torch

    from medkit.imaging.classifier import ImageClassifier

    torch.set_num_threads(1)
    x, y, _ = br35h_16
    return ImageClassifier(width=8, epochs=30, batch_size=16, lr=3e-3, augment=False, patience=None).fit(x, y)
