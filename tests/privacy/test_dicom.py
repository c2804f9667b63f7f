"""DICOM PS3.15 Basic profile on pydicom's test files and crafted datasets with PHI in private tags/sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from medkit.core.errors import PrivacyError  # noqa: E402
from medkit.privacy.dicom_deid import DicomDeidentifier  # noqa: E402
from medkit.privacy.dicom_profile import BASIC_PROFILE, resolve_action  # noqa: E402


def _ct() -> Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def test_profile_actions_per_tag_on_ct_small() -> None:
    ds = _ct()
    before = {k: ds.get(k) for k in ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                                     "SOPInstanceUID", "SOPClassUID", "Modality", "Rows", "StudyDate")}
    assert str(before["PatientName"]) == "CompressedSamples^CT1"
    n_private = sum(1 for e in ds.iterall() if e.tag.is_private)
    assert n_private > 0
    rep = DicomDeidentifier(key=b"k" * 32).deidentify(ds, "CT_small.dcm")
    # Z: present but empty
    assert ds.PatientName == "" and ds.PatientID == "" and ds.StudyDate == ""
    # X: removed
    for kw in ("InstitutionName", "OperatorsName", "StationName", "SeriesDate"):
        assert kw not in ds
    # U: remapped under 2.25, SOP Class (a DICOM-registered UID) kept; K: kept
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert ds.get(kw) != before[kw] and str(ds.get(kw)).startswith("2.25.")
    assert ds.SOPClassUID == before["SOPClassUID"] and ds.Modality == before["Modality"] and ds.Rows == before["Rows"]
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID  # remapped consistently
    assert not any(e.tag.is_private for e in ds.iterall())
    assert rep.n_private_removed >= 1 and ds.PatientIdentityRemoved == "YES"
    assert {c.action for c in rep.changes} >= {"X", "Z", "U"}
    assert all(c.keyword != "PatientName" or c.action == "Z" for c in rep.changes)


def test_uid_mapping_consistent_within_a_key_and_unlinkable_across_keys() -> None:
    d1, d2 = DicomDeidentifier(key=b"a" * 32), DicomDeidentifier(key=b"b" * 32)
    a, b, c = _ct(), _ct(), _ct()
    d1.deidentify(a)
    d1.deidentify(b)
    d2.deidentify(c)
    assert a.StudyInstanceUID == b.StudyInstanceUID != c.StudyInstanceUID


def test_phi_in_private_tags_and_sequences_is_removed(tmp_path: Path) -> None:
    ds = _ct()
    block = ds.private_block(0x0099, "HOSPITAL PACS", create=True)
    block.add_new(0x01, "LO", "Doe^Jane MRN 7734")
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7"
    item.PersonName = "Doe^Jane"                      # D inside a kept (recursed) sequence
    item.add_new(0x00991001, "LO", "private in item")
    ds.ReferencedImageSequence = Sequence([item])
    pat = Dataset()
    pat.PatientName = "Doe^Jane"
    ds.ReferencedPatientSequence = Sequence([pat])   # X: the whole sequence goes
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    src = tmp_path / "in.dcm"
    ds.save_as(src)
    rep = DicomDeidentifier(key=b"k" * 32).deidentify_file(src, tmp_path / "out" / "o.dcm")
    out = pydicom.dcmread(tmp_path / "out" / "o.dcm")
    assert rep.written and "ReferencedPatientSequence" not in out and "OtherPatientIDsSequence" not in out
    it = out.ReferencedImageSequence[0]
    assert it.PersonName == "ANONYMOUS" and it.ReferencedSOPInstanceUID.startswith("2.25.")
    assert not any(e.tag.is_private for e in out.iterall())
    assert all("Doe" not in str(e.value) for e in out.iterall() if e.VR in {"PN", "LO", "SH", "LT", "ST"})
    assert any(c.path.startswith("ReferencedImageSequence[0]/") for c in rep.changes)


def test_identifier_copied_into_a_kept_attribute_blocks_writing(tmp_path: Path) -> None:
    ds = _ct()
    ds.ContentDescription = "scan of CompressedSamples for research"  # not in the profile table: kept
    src = tmp_path / "in.dcm"
    ds.save_as(src)
    with pytest.raises(PrivacyError, match="still present in ContentDescription"):
        DicomDeidentifier().deidentify_file(src, tmp_path / "out.dcm")
    assert not (tmp_path / "out.dcm").exists()


def test_burned_in_annotation_is_refused_unless_allowed(tmp_path: Path) -> None:
    ds = _ct()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(PrivacyError, match="burned-in"):
        DicomDeidentifier().deidentify(ds)
    rep = DicomDeidentifier(allow_burned_in=True).deidentify(ds)
    assert rep.burned_in == "YES"


def test_all_pydicom_test_files_processed() -> None:
    from medkit.data.registry import load_dataset

    files = load_dataset("pydicom-test").data
    deid, n = DicomDeidentifier(key=b"k" * 32), 0
    for f in files:
        try:
            ds = pydicom.dcmread(f)
        except Exception:  # noqa: BLE001 - some test files are deliberately broken
            continue
        deid.deidentify(ds, f.name)
        assert not any(e.tag.is_private for e in ds.iterall())
        assert str(ds.get("PatientName", "")) in ("", "ANONYMOUS")
        n += 1
    assert n >= 50


def test_composite_codes_resolve_conservatively() -> None:
    assert resolve_action("X/Z") == "Z" and resolve_action("X/D") == "X" and resolve_action("X/Z/U*") == "K"
    assert BASIC_PROFILE["PatientName"] == "Z" and BASIC_PROFILE["StudyInstanceUID"] == "U"
    assert BASIC_PROFILE["PatientAddress"] == "X" and BASIC_PROFILE["PersonName"] == "D"
