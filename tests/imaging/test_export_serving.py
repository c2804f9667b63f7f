"""ONNX parity, bundle → predictor round trip on real images, and the CLI end to end on a tiny run."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from medkit.core.bundle import Predictor
from medkit.core.errors import DataError
from medkit.imaging.bundle import load_estimator, save_classifier_bundle
from medkit.imaging.classifier import ImageClassifier
from medkit.imaging.export import export_onnx, onnx_parity, run_onnx
from medkit.imaging.serving import load_predictor


def test_onnx_parity_on_real_images(tiny_classifier: ImageClassifier, br35h_16, tmp_path: Path) -> None:  # noqa: ANN001
    x = br35h_16[0][:, None].astype(np.float32)  # (16, 1, 64, 64) raw 0-255: preprocessing is inside the graph
    export_onnx(tiny_classifier.model_, torch.from_numpy(x[:1]), tmp_path / "m.onnx")
    par = onnx_parity(tiny_classifier.model_, tmp_path / "m.onnx", x)
    assert par.ok and par.max_abs_diff <= 1e-4
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x), tiny_classifier.predict_proba(x), atol=1e-4)


@pytest.fixture(scope="module")
def bundle(tiny_classifier: ImageClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_classifier_bundle(tiny_classifier, tmp_path_factory.mktemp("b") / "bundle", image_size=64,
                                  label_map={"0": "no tumour", "1": "tumour"}, dataset="br35h")


def test_bundle_round_trip(bundle: Path, tiny_classifier: ImageClassifier, br35h_16) -> None:  # noqa: ANN001
    info, est = load_estimator(bundle)
    assert info.pillar == "imaging" and info.kind == "classifier"
    assert info.extra["onnx_parity_max_abs_diff"] <= 1e-4
    np.testing.assert_allclose(est.predict_proba(br35h_16[0]), tiny_classifier.predict_proba(br35h_16[0]), atol=1e-6)


def test_predictor_on_uploaded_bytes(bundle: Path, tiny_classifier: ImageClassifier, br35h_16) -> None:  # noqa: ANN001
    pred = load_predictor(bundle)
    assert isinstance(pred, Predictor)
    x, y, paths = br35h_16
    for k in (0, 15):
        out = pred.predict({"bytes": Path(paths[k]).read_bytes(), "filename": Path(paths[k]).name})
        # Same file through the same preprocessing: the probability equals the estimator's.
        assert out["probability"] == pytest.approx(float(tiny_classifier.predict_proba(x[k:k + 1])[0, 1]), abs=1e-5)
        assert out["label"] == ("tumour" if y[k] == 1 else "no tumour")
        png = PILImage.open(io.BytesIO(base64.b64decode(out["gradcam_png"])))
        assert png.size == (64, 64) and png.mode == "RGB"


def test_predictor_refuses_bad_uploads(bundle: Path) -> None:
    pred = load_predictor(bundle)
    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((32, 32), np.uint16) + 4000).save(buf, format="PNG")
    with pytest.raises(DataError, match="16-bit") as e:
        pred.predict((buf.getvalue(), "deep_scan.png"))
    assert e.value.where == "deep_scan.png" and "upload" not in str(e.value)
    buf = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    with pytest.raises(DataError, match="colour image"):
        pred.predict({"bytes": buf.getvalue(), "filename": "fundus.png"})
    with pytest.raises(DataError, match="no image bytes"):
        pred.predict({"bytes": b"", "filename": "empty.png"})


def test_cli_train_predict_export_info(tmp_path: Path, br35h_16, pydicom_files: Path) -> None:  # noqa: ANN001
    from medkit.cli.imaging import app

    runner = CliRunner()
    r = runner.invoke(app, ["train", "--task", "classify", "--runs-dir", str(tmp_path / "runs"), "--set", "n_train=8",
                            "--set", "n_val=4", "--set", "n_test=6", "--set", "epochs=2", "--set", "width=4",
                            "--set", "n_boot=20", "--set", "n_gradcam=2"])
    assert r.exit_code == 0, r.output
    bundle = next((tmp_path / "runs").glob("*/bundle"))
    run = bundle.parent
    assert (run / "report.html").stat().st_size > 10_000
    # Trust artefacts: quality gate output, model card and TRIPOD+AI checklist, linked from the report.
    for f in ("quality.html", "quality.json", "model_card.html", "model_card.md", "tripod_ai.md", "trust.json"):
        assert (run / f).is_file(), f
    report = (run / "report.html").read_text()
    assert 'href="model_card.html"' in report and 'href="quality.html"' in report
    q = json.loads((run / "quality.json").read_text())
    assert q["summary"]["n_errors"] == 0 and q["summary"]["n_rows"] == 8 * 2 + 4 * 2 + 6 * 2
    assert "Br35H" in (run / "model_card.md").read_text()
    r = runner.invoke(app, ["predict", "--bundle", str(bundle), "--out", str(tmp_path / "pred"), "--explain",
                            *br35h_16[2][:3]])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "pred" / "overlays").glob("*.png"))) == 3
    exps = json.loads((tmp_path / "pred" / "explanations.json").read_text())
    assert len(exps) == 3
    for e in exps:
        x = e["explanation"]
        assert x["method"] == "grad-cam" and x["map_shape"] == [64, 64] and Path(x["overlay"]).is_file()
        assert 0 <= x["peak_row"] < 64 and 0 <= x["peak_col"] < 64 and 0.0 <= x["fraction_above_half"] <= 1.0
        assert "values" not in x  # summary only, no arrays
    r = runner.invoke(app, ["export", "--bundle", str(bundle), "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0 and "onnxruntime" in r.output
    # Exporting into the bundle itself (over the training run's model.onnx) re-records the artefact digests: the
    # bundle still loads afterwards, and a deleted artefact is refused.
    r = runner.invoke(app, ["export", "--bundle", str(bundle)])
    assert r.exit_code == 0, r.output
    from medkit.core.bundle import load_bundle_info
    from medkit.core.hashing import sha256_file

    assert load_bundle_info(bundle).files["model.onnx"] == sha256_file(bundle / "model.onnx")
    (bundle / "model.onnx").unlink()
    r = runner.invoke(app, ["export", "--bundle", str(bundle)])
    assert r.exit_code != 0 and "model.onnx listed in bundle.json is missing" in str(r.exception)
    r = runner.invoke(app, ["info", str(pydicom_files / "CT_small.dcm")])
    assert r.exit_code == 0 and "HU" in r.output and "0.6615" in r.output


def test_segmenter_bundle_predicts_a_drive_image(shared_data: Path, tmp_path: Path) -> None:
    import tarfile

    from medkit.data import load_dataset
    from medkit.imaging.bundle import save_segmenter_bundle
    from medkit.imaging.prep import fundus_input
    from medkit.imaging.segmenter import UNetSegmenter

    case = load_dataset("drive", data_dir=shared_data, split="train").data["train"][0]
    seg = UNetSegmenter(channels=(8, 16, 32), patches_per_image=8, roi_size=64, epochs=1, augment=False)
    seg.fit([fundus_input(case.image, case.fov)], [case.mask], [case.fov])
    b = save_segmenter_bundle(seg, tmp_path / "seg", dataset="drive")
    info, _ = load_estimator(b)
    assert info.kind == "segmenter" and info.extra["onnx_parity_max_abs_diff"] <= 1e-4
    with tarfile.open(shared_data / "drive" / "DRIVE.tar.gz") as tf:
        data = tf.extractfile("DRIVE/test/images/01_test.tif").read()  # type: ignore[union-attr]
    out = load_predictor(b).predict({"bytes": data, "filename": "01_test.tif"})
    mask = np.asarray(PILImage.open(io.BytesIO(base64.b64decode(out["mask_png"]))))
    assert mask.shape == (584, 565) and set(np.unique(mask)) <= {0, 255}
    assert 0.0 <= out["foreground_fraction"] <= 1.0
