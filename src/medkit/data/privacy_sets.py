"""Datasets of the privacy pillar (registered with :func:`medkit.data.register_dataset`).

``deid-physionet``: the PhysioNet deid gold-standard corpus (2,434 ICU nursing notes of 163 patients with
1,779 typed PHI spans whose text was replaced by realistic surrogates).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from medkit.core.errors import DataError
from medkit.data.paths import require_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset

_RECORD = re.compile(r"START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD", re.S)

DEID_PHI_TYPES = ("HCPName", "Date", "Location", "RelativeProxyName", "PTName", "Phone", "DateYear", "Age",
                  "Other", "PTNameInitial")


def parse_deid_text(path: Path) -> pd.DataFrame:
    """Parse a deid ``.text`` corpus into one row per note.

    Returns
    -------
    DataFrame with columns ``patient`` (str), ``note`` (int) and ``text`` (str). Offsets of the
    annotation files count from the first character of ``text``.
    """
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"the deid corpus is not valid UTF-8 (byte {exc.start})", where=str(path),
                        fix="re-encode the file as UTF-8 (iconv -f latin1 -t utf-8)") from None
    rows = [(m.group(1), int(m.group(2)), m.group(3)) for m in _RECORD.finditer(content)]
    if not rows:
        raise DataError("no START_OF_RECORD=<patient>||||<note>|||| blocks found", where=str(path),
                        fix="pass a file in the PhysioNet deid .text format")
    return pd.DataFrame(rows, columns=["patient", "note", "text"])


def parse_deid_phrases(path: Path) -> pd.DataFrame:
    """Parse ``id-phi.phrase``: one PHI per line ``patient note start end type text`` (end exclusive)."""
    rows: list[tuple[str, int, int, int, str, str]] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(" ", 5)
        if len(parts) < 5:
            raise DataError("PHI line has fewer than 5 fields", where=f"{path}:{i}",
                            fix="each line must read '<patient> <note> <start> <end> <type> <text>'")
        text = parts[5] if len(parts) > 5 else ""
        rows.append((parts[0], int(parts[1]), int(parts[2]), int(parts[3]), parts[4], text))
    return pd.DataFrame(rows, columns=["patient", "note", "start", "end", "type", "phrase"])


def read_lists(folder: Path) -> dict[str, list[str]]:
    """Read the corpus ``lists/`` dictionaries: ``{file stem: [entries]}`` (``pid_patientname`` kept raw)."""
    out: dict[str, list[str]] = {}
    for p in sorted(folder.glob("*.txt")):
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        out[p.stem] = [ln.strip() for ln in lines if ln.strip()]
    return out


@register_dataset(
    "deid-physionet",
    task="ner",
    description="PhysioNet deid gold standard: 2,434 ICU nursing notes (163 patients), 1,779 typed PHI spans.",
    licence="GPL-2.0 (per the deid distribution's README.txt / COPYING)",
    citation=("Neamatullah I, Douglass MM, Lehman LH, et al. Automated de-identification of free-text medical "
              "records. BMC Med Inform Decis Mak 2008;8:32."),
    source="data-dir:deid_physionet",
    pillar="privacy",
    url="https://physionet.org/content/deid/",
)
def load_deid_physionet(info: DatasetInfo, data_dir: Any = None) -> Dataset:
    """Load notes (``data``), gold spans (``extra['spans']``) and dictionaries (``extra['lists']``).

    ``groups`` holds the patient id of every note, for patient-wise splits.
    """
    text_path = require_file("deid_physionet/id.text", info.name, data_dir)
    phrase_path = require_file("deid_physionet/id-phi.phrase", info.name, data_dir)
    lists_dir = require_file("deid_physionet/lists", info.name, data_dir)
    notes = parse_deid_text(text_path)
    spans = parse_deid_phrases(phrase_path)
    shift_path = text_path.parent / "shift.txt"
    files = [text_path, phrase_path] + ([shift_path] if shift_path.exists() else [])
    return Dataset(info, notes, files, n_rows=len(notes), n_patients=int(notes["patient"].nunique()),
                   groups=notes["patient"].to_numpy(),
                   extra={"spans": spans, "lists": read_lists(lists_dir), "lists_dir": lists_dir})
