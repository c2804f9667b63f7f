"""Imaging trust wiring: quality gate on planted problems, split-aware re-grading, DRIVE pairing, Grad-CAM summary."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medkit.core.errors import DataError, ValidationError
from medkit.imaging.trust import explanation_summary, folder_quality, image_quality, segmentation_quality


def _folder(tmp_path: Path, paths: list[str]) -> Path:
    """A user folder no/ + yes/ with 3 real Br35H images per class."""
    root = tmp_path / "scans"
    for k, sub in enumerate(("no", "yes")):
        (root / sub).mkdir(parents=True)
        for p in paths[k * 8: k * 8 + 3]:
            shutil.copy(p, root / sub / Path(p).name)
    return root


def test_clean_folder_passes_and_writes_reports(tmp_path: Path, br35h_16) -> None:  # noqa: ANN001
    rep = folder_quality(_folder(tmp_path, br35h_16[2]), out=tmp_path / "q")
    assert rep.ok and rep.n_rows == 6
    assert (tmp_path / "q" / "quality.html").is_file() and (tmp_path / "q" / "quality.json").is_file()


def test_same_image_under_both_labels_is_refused_naming_the_file(tmp_path: Path, br35h_16) -> None:  # noqa: ANN001
    root = _folder(tmp_path, br35h_16[2])
    src = next((root / "yes").iterdir())
    shutil.copy(src, root / "no" / "planted_copy.jpg")
    with pytest.raises(ValidationError, match="identical image.*both labels") as e:
        folder_quality(root, allow_warnings=True)  # errors cannot be overridden
    assert "planted_copy.jpg" in e.value.where and src.name in e.value.where


def test_corrupt_file_is_refused_naming_the_file(tmp_path: Path, br35h_16) -> None:  # noqa: ANN001
    root = _folder(tmp_path, br35h_16[2])
    (root / "yes" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DataError, match="cannot be decoded") as e:
        folder_quality(root)
    assert "broken.png" in e.value.where


def test_same_label_copy_is_a_warning_unless_the_split_keeps_it_together(tmp_path: Path,
                                                                        br35h_16) -> None:  # noqa: ANN001
    paths = [Path(p) for p in br35h_16[2][:3]] + [Path(br35h_16[2][8])]
    dup = tmp_path / "copy.jpg"
    shutil.copy(paths[0], dup)
    files, labels = [*paths, dup], np.array([0, 0, 0, 1, 0])
    plain = image_quality(files, labels, "t")
    assert plain.has("duplicates", "warning")  # no split known: a human must look
    together = image_quality(files, labels, "t", split=np.array(["train", "val", "test", "test", "train"]))
    assert together.ok and not together.warnings and together.has("duplicates", "info")
    apart = image_quality(files, labels, "t", split=np.array(["train", "val", "test", "test", "test"]))
    assert apart.has("duplicates", "error") and "more than one split" in apart.errors[0].message


def test_segmentation_pairing_check_names_the_case() -> None:
    good = SimpleNamespace(id="01", image=np.zeros((8, 6, 3)), mask=np.eye(8, 6, dtype=bool), fov=np.ones((8, 6)))
    bad = SimpleNamespace(id="02", image=np.zeros((8, 6, 3)), mask=np.zeros((6, 8), bool), fov=np.ones((8, 6)))
    empty = SimpleNamespace(id="03", image=np.zeros((8, 6, 3)), mask=np.zeros((8, 6), bool), fov=np.ones((8, 6)))
    rep = segmentation_quality([good, bad, empty], "drive")
    assert [f.where for f in rep.errors] == ["drive: case 02"]
    assert [f.where for f in rep.warnings] == ["drive: case 03"]


def test_explanation_summary_matches_grad_cam_peak(tiny_classifier, br35h_16) -> None:  # noqa: ANN001
    from medkit.interpret import explain
    from medkit.interpret.gradcam import grad_cam

    x = br35h_16[0][:2, None].astype(np.float32)
    exp = explain(tiny_classifier.model_, x, method="grad-cam", class_idx=1)
    ref = grad_cam(tiny_classifier.model_, torch.from_numpy(x), class_idx=1)  # independent call
    for i in range(2):
        s = explanation_summary(exp, i, overlay="o.png")
        r, c = np.unravel_index(int(np.argmax(ref[i])), ref[i].shape)
        assert (s["peak_row"], s["peak_col"]) == (r, c) and s["class_idx"] == 1 and s["overlay"] == "o.png"
        assert s["fraction_above_half"] == pytest.approx(float((ref[i] > 0.5).mean()))


def test_segment_run_writes_quality_and_model_card(shared_data: Path, tmp_path: Path) -> None:
    import json

    from medkit.imaging.segment_workflow import SegmentConfig, run_segment

    run, _ = run_segment(SegmentConfig(runs_dir=tmp_path, data_dir=shared_data, channels=(4, 8, 16), patches_per_image=4,
                                       roi_size=64, epochs=1, n_train=2, n_test=2, external=False, n_boot=10))
    q = json.loads((run.path / "quality.json").read_text())["summary"]
    assert q["n_rows"] == 4 and q["n_errors"] == 0 and q["checks_run"] == ["pairing", "sizes"]
    assert (run.path / "model_card.html").is_file() and (run.path / "tripod_ai.md").is_file()
    assert 'href="model_card.html"' in (run.path / "report.html").read_text()


def test_cli_check_folder(tmp_path: Path, br35h_16) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from medkit.cli.imaging import app

    root = _folder(tmp_path, br35h_16[2])
    r = CliRunner().invoke(app, ["check", str(root), "--out", str(tmp_path / "q")])
    assert r.exit_code == 0 and "6 images: 0 errors" in r.output, r.output
    assert (tmp_path / "q" / "quality.html").is_file()
    shutil.copy(next((root / "yes").iterdir()), root / "no" / "planted_copy.jpg")
    r = CliRunner().invoke(app, ["check", str(root), "--out", str(tmp_path / "q2")])
    assert r.exit_code != 0 and isinstance(r.exception, ValidationError)
    assert "planted_copy.jpg" in r.exception.where
    assert (tmp_path / "q2" / "quality.json").is_file()  # the report is written before refusing
