"""Bundle artefacts are checked against the sha256 recorded in bundle.json before anything unpickles them; the
whole-bundle digest (the serve registry's) reads each file once and lends its artefact digests to that check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from medkit.core import bundle as core_bundle
from medkit.core.bundle import BundleInfo, bundle_digest, load_bundle_info, reuse_digests, save_bundle_info
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


# -- one read per file when a bundle is checked both ways (registry digest, then bundle.json digests) ---------
def _registry_digest(bundle: Path) -> str:
    """The whole-bundle sha256 as registered versions recorded it (stored digests depend on it byte for byte)."""
    h = hashlib.sha256()
    for f in sorted(x for x in bundle.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(bundle)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_bundle_digest_reads_each_file_once_and_verify_reuses_it(bundle: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  count_reads: Any) -> None:
    b = _copy(bundle, tmp_path)
    (b / "notes").mkdir()
    (b / "notes" / "readme.txt").write_text("nested files count in the whole digest\n")
    expected = _registry_digest(b)
    own = sha256_file(b / "model.joblib")
    monkeypatch.setattr(core_bundle, "_RACY_NS", 0)  # the copy was just written (see the test after next)
    opened, hashed = count_reads()
    d = bundle_digest(b)
    assert d.sha256 == expected
    assert [v[1] for v in d.artefacts.values()] == [own] and list(d.artefacts) == [str((b / "model.joblib").resolve())]
    with reuse_digests(d):
        assert load_bundle_info(b).files == {"model.joblib": own}
    assert opened.count("model.joblib") == 1 and hashed == []  # one read in all
    load_bundle_info(b)  # outside the block nothing is reused
    assert opened.count("model.joblib") == 2 and hashed == ["model.joblib"]


def test_an_artefact_changed_after_the_digest_is_read_again_and_refused(bundle: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        count_reads: Any) -> None:
    b = _copy(bundle, tmp_path)
    monkeypatch.setattr(core_bundle, "_RACY_NS", 0)
    time.sleep(0.05)  # past the file-time tick of the copy, as _RACY_NS ensures outside tests
    d = bundle_digest(b)
    f = b / "model.joblib"
    st = f.stat()
    blob = bytearray(f.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    f.write_bytes(bytes(blob))  # same size, and the old mtime back: only the ctime tells
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    _, hashed = count_reads()
    with reuse_digests(d), pytest.raises(ModelError, match="model.joblib changed after the bundle was written"):
        load_bundle_info(b)
    assert hashed == ["model.joblib"]


def test_an_artefact_written_moments_before_the_digest_is_not_reused(bundle: Path, tmp_path: Path,
                                                                      count_reads: Any) -> None:
    b = _copy(bundle, tmp_path)  # ctime now: a rewrite within the same file-time tick could keep the stat key
    d = bundle_digest(b)
    assert d.sha256 == _registry_digest(b) and d.artefacts == {}
    _, hashed = count_reads()
    with reuse_digests(d):
        load_bundle_info(b)
    assert hashed == ["model.joblib"]
