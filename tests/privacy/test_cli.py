"""``medkit privacy ...`` commands end to end on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from medkit.cli.privacy import app
from medkit.core.errors import DataError, PrivacyError

runner = CliRunner()


def test_deid_text_csv_patterns_only(tmp_path: Path) -> None:
    src = tmp_path / "notes.csv"
    pd.DataFrame({"patient": ["7", "7"], "text": ["call 410-555-9876, seen 7/22/1993", ""]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["deid-text", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out, keep_default_na=False)
    assert "410-555-9876" not in df.text[0] and "7/22/1993" not in df.text[0] and df.text[1] == ""
    audit = json.loads(Path(str(out) + ".audit.json").read_text())
    assert audit["replaced_by_type"] == {"Phone": 1, "Date": 1} and audit["n_empty_notes"] == 1
    assert "410" not in json.dumps(audit["replaced_by_type"])


def test_deid_text_non_utf8_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "note.txt"
    src.write_bytes("Pt J\u00e9r\u00f4me seen".encode("latin-1"))
    out = tmp_path / "out.txt"
    r = runner.invoke(app, ["deid-text", str(src), "--out", str(out)])
    assert isinstance(r.exception, DataError) and "not valid UTF-8" in str(r.exception)
    assert not out.exists()


def test_deid_dicom_folder_with_a_refused_file(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    src = tmp_path / "in"
    src.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(src / "a.dcm")
    ds.BurnedInAnnotation = "YES"
    ds.save_as(src / "b.dcm")
    out = tmp_path / "out"
    r = runner.invoke(app, ["deid-dicom", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["files"]) == 1 and len(rep["refused"]) == 1 and "burned-in" in rep["refused"][0]["reason"]
    assert (out / "a.dcm").exists() and not (out / "b.dcm").exists()
    assert "CompressedSamples" not in (out / "report.json").read_text()


def test_k_anon_csv_and_refusal(tmp_path: Path) -> None:
    src = tmp_path / "cohort.csv"
    pd.DataFrame({"age": [31, 34, 38, 52, 52, 55, 57, 61], "sex": list("FFFMMMMF"), "mrn": range(8),
                  "death": [0, 1, 0, 0, 1, 0, 1, 1]}).to_csv(src, index=False)
    out = tmp_path / "anon.csv"
    r = runner.invoke(app, ["k-anon", str(src), "--out", str(out), "--qi", "age", "--qi", "sex", "--k", "2",
                            "--sensitive", "death", "--max-suppression", "0.2"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert "mrn" not in df.columns and df.groupby(["age", "sex"]).size().min() >= 2
    r = runner.invoke(app, ["k-anon", str(src), "--out", str(tmp_path / "x.csv"), "--qi", "age", "--qi", "sex",
                            "--k", "9", "--max-suppression", "0"])
    assert isinstance(r.exception, PrivacyError) and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("flag, want", [([], True), (["--no-word-clusters"], False)])
def test_train_deid_passes_the_word_class_choice_on(tmp_path: Path, monkeypatch, flag: list[str], want: bool) -> None:
    import medkit.privacy.hybrid_workflow as hw
    from medkit.privacy.text_deid import TextDeidentifier

    seen: dict = {}

    def fake(data_dir, **kw):  # stands in for the ~70-minute training; records what the command asked for
        seen.update(kw)
        model = TextDeidentifier(use_tagger=False).fit(pd.DataFrame({"patient": [], "text": []}), [])
        model.operating_points_ = {"crf+minilm": (0.03, 0.9)}
        stats = {"recall": 0.99, "precision": 0.9}
        return model, {"neural": {"out_of_time": False}, "val": stats, "val_minilm_only": stats, "tuning": "t"}

    monkeypatch.setattr(hw, "train_hybrid_on_corpus", fake)
    r = runner.invoke(app, ["train-deid", "--out", str(tmp_path / "m"), *flag])
    assert r.exit_code == 0, r.output
    assert seen["word_clusters"] is want
