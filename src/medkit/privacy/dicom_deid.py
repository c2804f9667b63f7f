"""DICOM de-identification with the PS3.15 Basic Application Level Confidentiality Profile.

Per attribute the profile action (:mod:`medkit.privacy.dicom_profile`) is applied, recursively inside
sequences; private attributes and curve/overlay data are removed; instance UIDs are re-mapped consistently
(the same input UID gives the same new UID in every file of a run, so studies and series stay linked);
Patient Identity Removed / De-identification Method are set. A file whose Burned In Annotation is ``YES``
is refused unless explicitly allowed, since its pixels may show names. The report lists tags and actions,
never values. Before a file is written, every string value that was removed is searched for in what is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medkit.core.deps import require
from medkit.core.errors import DataError, PrivacyError
from medkit.privacy.dicom_profile import BASIC_PROFILE, DICOM_ROOT, DUMMY

# Values searched for in what is kept (names are collected from every PN attribute acted on).
_DIRECT_IDS = {"PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "PatientAddress",
               "PatientTelephoneNumbers", "MedicalRecordLocator", "AdmissionID", "ServiceEpisodeID"}
_RISKY_MODALITIES = {"US", "SC", "XA", "ES", "OT", "DX", "CR"}  # often carry burned-in text


@dataclass
class DicomChange:
    """One applied action: tag (``"(0010,0010)"``), keyword, action and the sequence path it sits in."""

    tag: str
    keyword: str
    action: str
    path: str = ""


@dataclass
class DicomDeidReport:
    """What was done to one file (no PHI values)."""

    source: str
    changes: list[DicomChange] = field(default_factory=list)
    n_private_removed: int = 0
    n_uids_remapped: int = 0
    burned_in: str = "NO"
    warnings: list[str] = field(default_factory=list)
    written: str | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out


class DicomDeidentifier:
    """Apply the Basic profile to pydicom datasets or files.

    Parameters
    ----------
    key
        Secret for UID re-mapping; a fresh random key by default (UIDs of different runs do not link).
    allow_burned_in
        Process files flagged ``BurnedInAnnotation = YES`` (their pixels are NOT cleaned; the caller takes
        responsibility). Default: refuse them with a :class:`PrivacyError`.
    """

    def __init__(self, key: bytes | None = None, allow_burned_in: bool = False) -> None:
        self.key = key if key is not None else secrets.token_bytes(32)
        self.allow_burned_in = allow_burned_in
        self.uid_map: dict[str, str] = {}

    def new_uid(self, uid: str) -> str:
        """Consistent replacement UID under the ``2.25`` (UUID-derived) root."""
        uid = str(uid).strip()
        if uid not in self.uid_map:
            digest = hmac.new(self.key, uid.encode(), hashlib.sha256).digest()[:16]
            self.uid_map[uid] = "2.25." + str(int.from_bytes(digest, "big"))
        return self.uid_map[uid]

    # ------------------------------------------------------------------- datasets
    def deidentify(self, ds: Any, source: str = "<dataset>") -> DicomDeidReport:
        """De-identify a pydicom ``Dataset`` in place and return the report."""
        report = DicomDeidReport(source)
        burned = str(ds.get("BurnedInAnnotation", "")).upper()
        report.burned_in = burned or "UNKNOWN"
        if burned == "YES" and not self.allow_burned_in:
            raise PrivacyError("the image has burned-in annotation (0028,0301) = YES; its pixels may show PHI",
                               where=source, fix="clean the pixels first, or pass allow_burned_in=True / "
                               "--allow-burned-in to accept the risk")
        if not burned and str(ds.get("Modality", "")) in _RISKY_MODALITIES:
            report.warnings.append("Burned In Annotation absent for a modality that often has burned-in text")
        removed_values: set[str] = set()
        self._walk(ds, report, "", removed_values)
        if getattr(ds, "file_meta", None) is not None and "MediaStorageSOPInstanceUID" in ds.file_meta:
            ds.file_meta.MediaStorageSOPInstanceUID = self.new_uid(ds.file_meta.MediaStorageSOPInstanceUID)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile (medkit)"
        self._check_residual(ds, removed_values, source)
        return report

    def _walk(self, ds: Any, report: DicomDeidReport, path: str, removed: set[str]) -> None:
        for elem in list(ds):
            tag = elem.tag
            tag_s = f"({tag.group:04X},{tag.element:04X})"
            if tag.is_private:
                del ds[tag]
                report.n_private_removed += 1
                continue
            if 0x5000 <= tag.group <= 0x50FF or (0x6000 <= tag.group <= 0x60FF and tag.element in (0x3000, 0x4000)):
                del ds[tag]  # curve data, overlay data/comments: may hold annotations with PHI
                report.changes.append(DicomChange(tag_s, elem.keyword or "overlay/curve", "X", path))
                continue
            action = BASIC_PROFILE.get(elem.keyword or "")
            if action is None and elem.VR == "UI":
                action = "U"
            if action is None or action == "K":
                if elem.VR == "SQ":
                    for i, item in enumerate(elem.value):
                        self._walk(item, report, f"{path}{elem.keyword}[{i}]/", removed)
                continue
            if action != "U":
                _collect(elem, removed, elem.keyword in _DIRECT_IDS)
            if action == "X":
                del ds[tag]
            elif action == "Z":
                elem.value = [] if elem.VR == "SQ" else ("" if elem.VR not in {"US", "SS", "UL", "SL", "FL", "FD"}
                                                          else None)
            elif action == "D":
                elem.value = [] if elem.VR == "SQ" else DUMMY.get(elem.VR, "ANONYMIZED")
            elif action == "U":
                if elem.value in (None, ""):
                    continue
                vals = elem.value if elem.VM > 1 else [elem.value]
                new = [v if str(v).startswith(DICOM_ROOT) else self.new_uid(str(v)) for v in vals]
                if new == list(vals):
                    continue
                report.n_uids_remapped += sum(a != b for a, b in zip(new, vals, strict=True))
                elem.value = new if elem.VM > 1 else new[0]
            report.changes.append(DicomChange(tag_s, elem.keyword, action, path))

    def _check_residual(self, ds: Any, removed: set[str], source: str) -> None:
        # Only distinctive values can be searched for reliably: name components of >= 5 characters (so
        # "Test" in "Test^S R" does not flag a CodingSchemeDesignator "TEST"), whole names and identifiers.
        needles = {v for v in removed if len(v) >= 4 and v.upper() not in {"ANONYMOUS", "ANONYMIZED", "ANON"}}
        if not needles:
            return
        pat = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(v) for v in sorted(needles)) + r")(?![A-Za-z0-9])",
                         re.I)
        for elem in ds.iterall():
            if elem.VR in {"PN", "LO", "SH", "LT", "ST", "UT", "UC"} and elem.value:
                if pat.search(str(elem.value)) and elem.keyword != "DeidentificationMethod":
                        raise PrivacyError(f"a removed identifier value is still present in {elem.keyword or elem.tag}",
                                           where=source, fix="that attribute holds copied PHI; remove it "
                                           "(medkit keeps attributes outside the Basic profile table) and rerun")

    # ----------------------------------------------------------------------- files
    def deidentify_file(self, src: str | Path, dst: str | Path) -> DicomDeidReport:
        """Read ``src``, de-identify, write ``dst`` (only after every check passed)."""
        pydicom = require("pydicom", "imaging")
        try:
            ds = pydicom.dcmread(str(src))
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad files
            raise DataError(f"cannot read DICOM file: {exc}", where=str(src),
                            fix="check that the file is DICOM (Part 10) and not truncated") from None
        report = self.deidentify(ds, source=str(src))
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(str(dst), enforce_file_format=False)
        report.written = str(dst)
        return report


def _collect(elem: Any, out: set[str], direct: bool = False) -> None:
    """Add person names (and, with ``direct``, identifier values) of ``elem`` to ``out``, sequences included."""
    if elem.VR == "SQ":
        for item in elem.value or []:
            for sub in item.iterall():
                _collect(sub, out, sub.keyword in _DIRECT_IDS)
        return
    if (elem.VR == "PN" or direct) and elem.value not in (None, ""):
        vals = elem.value if elem.VM > 1 else [elem.value]
        for v in vals:
            # a PN "Family^Given" is searched for component by component
            parts = str(v).split("^") if elem.VR == "PN" else [str(v)]
            out.update(p.strip() for p in parts if len(p.strip()) >= 5 or elem.VR != "PN")
            out.add(str(v).strip())
