"""Bundle artefacts are checked against the sha256 recorded in bundle.json before anything unpickles them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from medkit.core.bundle import BundleInfo, load_bundle_info, save_bundle_info
from medkit.core.errors import ModelError
from medkit.core.hashing import sha256_file
from medkit.data import load_dataset


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = load_dataset("wdbc")
    model = LogisticRegression(max_iter=5000).fit(ds.X.iloc[:200], ds.y[:200])
    out = tmp_path_factory.mktemp("b") / "bundle"
    out.mkdir()
    joblib.dump(model, out / "model.joblib")
    (out / "model_card.md").write_text("# card\n")
    save_bundle_info(out, BundleInfo(pillar="clinical", kind="binary", name="wdbc"))
    return out


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def test_save_records_the_artefact_digests_only(bundle: Path) -> None:
    info = load_bundle_info(bundle)
    assert info.files == {"model.joblib": sha256_file(bundle / "model.joblib")}
    assert len(info.files["model.joblib"]) == 64


def test_a_changed_artefact_is_refused_before_loading(bundle: Path, tmp_path: Path) -> None:
    b = _copy(bundle, tmp_path)
    blob = bytearray((b / "model.joblib").read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte, the kind of damage a bad copy does
    (b / "model.joblib").write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="model.joblib changed after the bundle was written") as exc:
        load_bundle_info(b)
    assert exc.value.where == str(b / "model.joblib")
    assert load_bundle_info(b, verify=False).pillar == "clinical"  # metadata is still readable on request


def test_missing_extra_and_unrecorded_artefacts_are_refused(bundle: Path, tmp_path: Path) -> None:
    b = _copy(bundle, tmp_path)
    (b / "model.pt").write_bytes(b"not listed")
    with pytest.raises(ModelError, match=r"model\.pt not listed"):
        load_bundle_info(b)
    (b / "model.pt").unlink()
    (b / "model.joblib").unlink()
    with pytest.raises(ModelError, match="model.joblib listed in bundle.json is missing"):
        load_bundle_info(b)
    shutil.copy(bundle / "model.joblib", b / "model.joblib")
    info = json.loads((b / "bundle.json").read_text())
    for bad, msg in [({}, "records no artefact checksums"),
                     ({"../model.joblib": info["files"]["model.joblib"]}, "invalid artefact name")]:
        (b / "bundle.json").write_text(json.dumps({**info, "files": bad}))
        with pytest.raises(ModelError, match=msg):
            load_bundle_info(b)
    (b / "bundle.json").write_text(json.dumps(info))
    assert load_bundle_info(b).files == info["files"]  # restored: loads again; the model card is not an artefact


def test_pillar_loader_refuses_a_tampered_bundle(bundle: Path, tmp_path: Path) -> None:
    from medkit.clinical.serving import load_predictor

    b = _copy(bundle, tmp_path)
    joblib.dump({"model": "something else"}, b / "model.joblib")
    with pytest.raises(ModelError, match="changed after the bundle was written"):
        load_predictor(b)
