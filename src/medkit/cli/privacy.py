"""``medkit privacy``: de-identify notes and DICOM files, k-anonymise cohort tables.

Kept light at import: the heavy modules load inside each command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="De-identification (text, DICOM) and k-anonymity.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA).")]
KeyFile = Annotated[Path | None, typer.Option("--key-file", help="Secret key file for stable surrogates/UIDs "
                                              "across runs (default: a fresh random key per run).")]


def _key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    from medkit.core.errors import ConfigError

    if not path.is_file():
        raise ConfigError("key file not found", where=str(path), fix="create one: head -c 32 /dev/urandom > key")
    data = path.read_bytes()
    if len(data) < 16:
        raise ConfigError("key file holds fewer than 16 bytes", where=str(path),
                          fix="use 32 random bytes: head -c 32 /dev/urandom > key")
    return data


@app.command("train-deid")
def train_deid(
    out: Annotated[Path, typer.Option(help="Folder for the trained model.")] = Path("deid-model"),
    data_dir: DataDir = None,
    seed: Annotated[int, typer.Option(help="Seed of the patient-wise split.")] = 0,
    max_iter: Annotated[int, typer.Option(help="CRF L-BFGS iterations.")] = 150,
    target_recall: Annotated[float, typer.Option(help="Recall the threshold is tuned for (validation).")] = 0.99,
    cv_folds: Annotated[int, typer.Option(help="Choose the threshold on out-of-fold predictions of K-fold "
                                          "patient-wise cross-validation (0 = one validation split; K extra "
                                          "fits).")] = 3,
    min_precision: Annotated[float | None, typer.Option(help="Precision floor when the target recall is out of "
                                                        "reach (the benchmark's setting).")] = 0.8,
    tagger: Annotated[str, typer.Option(help="crf+minilm (default, the benchmark's 'medkit': fine-tunes MiniLM-L6 "
                                        "on the training patients, ~14 min per epoch on one CPU core; the crf and "
                                        "minilm operating points are tuned and saved too), minilm, or crf (CRF only, "
                                        "a few minutes).")] = "crf+minilm",
    epochs: Annotated[int, typer.Option(help="MiniLM fine-tuning epochs: the training budget (best validated "
                                        "epoch kept), so the model does not depend on machine load.")] = 4,
    max_minutes: Annotated[float | None, typer.Option(help="Optional wall-clock safety cap of the MiniLM "
                                                      "fine-tune; when it ends training the model is under-trained "
                                                      "and the command says so.")] = None,
    word_clusters: Annotated[bool, typer.Option(help="Give the CRF word classes from pretrained MiniLM word "
                                                "embeddings (fitted on dictionaries, no notes; ~2 min more); "
                                                "crf+minilm / minilm only.")] = True,
) -> None:
    """Train medkit's PHI tagger on the PhysioNet deid corpus (training + validation patients)."""
    from medkit.core.errors import ConfigError
    from medkit.core.runs import dumps
    from medkit.privacy.text_workflow import save_model, train_on_corpus

    if tagger not in ("crf", "minilm", "crf+minilm"):
        raise ConfigError(f"unknown tagger {tagger!r}", where="--tagger", fix="use crf, minilm or crf+minilm")
    if tagger == "crf":
        model, info = train_on_corpus(data_dir, seed=seed, max_iterations=max_iter, target_recall=target_recall,
                                      cv_folds=cv_folds, min_precision=min_precision)
    else:
        from medkit.privacy.hybrid_workflow import select_tagger, train_hybrid_on_corpus

        model, info = train_hybrid_on_corpus(
            data_dir, seed=seed, max_iterations=max_iter, cv_folds=max(cv_folds, 2), target_recall=target_recall,
            min_precision=min_precision, word_clusters=word_clusters,
            neural_params={"epochs": epochs, "max_seconds": None if max_minutes is None else max_minutes * 60})
        if info["neural"]["out_of_time"]:
            typer.secho(f"MiniLM stopped at the {max_minutes:g}-minute cap after {info['neural']['epochs_run']} of "
                        f"{epochs} epochs (under-trained); re-run without --max-minutes", err=True, fg="yellow")
        select_tagger(model, tagger)
        info["threshold"], info["tagger"] = model.threshold, tagger
    path = save_model(model, out)
    (out / "training.json").write_text(dumps(info))
    v = info["val_minilm_only"] if tagger == "minilm" else info["val"]
    thr = f"threshold {model.threshold:.3f}" if tagger != "minilm" else ""
    if tagger != "crf":
        thr += f"{', ' if thr else ''}MiniLM threshold {model.neural_threshold:.3f}"
    typer.echo(f"{tagger}: {thr} ({info['tuning']}): recall {v['recall']:.3f}, precision {v['precision']:.3f}")
    typer.echo(f"Model: {path}")


@app.command("deid-text")
def deid_text(
    input: Annotated[Path, typer.Argument(help="Notes: .txt (one note), .csv (patient,text) or deid .text.")],
    out: Annotated[Path, typer.Option(help="Output file (same format as the input).")],
    model: Annotated[Path | None, typer.Option(help="Folder from 'medkit privacy train-deid'; without it "
                                               "only rules, dictionaries-free patterns and propagation run.")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient id for a .txt note (default: file name).")] = None,
    key_file: KeyFile = None,
    tagger: Annotated[str | None, typer.Option(help="Use this tuned tagger of the model: crf, minilm or "
                                               "crf+minilm (default: the one it was trained as).")] = None,
) -> None:
    """Replace PHI with consistent surrogates (dates shifted per patient); writes OUT and OUT.audit.json."""
    from medkit.core.runs import dumps
    from medkit.privacy.surrogates import SurrogateGenerator
    from medkit.privacy.text_deid import TextDeidentifier
    from medkit.privacy.text_workflow import load_model, read_notes, write_notes

    notes = read_notes(input, patient)
    if model is not None:
        deid = load_model(model)
        if tagger is not None:
            from medkit.privacy.hybrid_workflow import select_tagger

            select_tagger(deid, tagger)
    else:
        typer.secho("no --model: using patterns only (names and places need the trained tagger)", err=True,
                    fg="yellow")
        deid = TextDeidentifier(use_tagger=False).fit(notes.iloc[:0], [])
    res = deid.deidentify(notes, SurrogateGenerator(key=_key(key_file), lexicon=deid.lexicon_))
    write_notes(notes, res.texts, out, input)
    audit = {"input": str(input), "n_notes": len(notes), "n_empty_notes": res.n_empty,
             "replaced_by_type": res.counts, "n_propagated": res.n_propagated,
             "spans": [[{"start": s.start, "end": s.end, "type": s.type, "source": s.source} for s in sp]
                       for sp in res.spans]}
    Path(str(out) + ".audit.json").write_text(dumps(audit))
    typer.echo(f"{sum(res.counts.values())} PHI replaced in {len(notes)} note(s) "
               f"({res.n_empty} empty): {json.dumps(res.counts)}")
    typer.echo(f"Output: {out}")


@app.command("deid-dicom")
def deid_dicom(
    input: Annotated[Path, typer.Argument(help="A DICOM file or a folder of them (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Output folder (relative paths kept).")],
    allow_burned_in: Annotated[bool, typer.Option("--allow-burned-in", help="Process files flagged with burned-in "
                                                  "annotation (their pixels are NOT cleaned).")] = False,
    key_file: KeyFile = None,
) -> None:
    """Apply the DICOM PS3.15 Basic confidentiality profile; writes the files and report.json (no PHI)."""
    from dataclasses import asdict

    from medkit.core.errors import DataError, MedkitError
    from medkit.core.runs import dumps
    from medkit.privacy.dicom_deid import DicomDeidentifier

    files = [input] if input.is_file() else sorted(p for p in input.rglob("*") if p.is_file())
    if not files:
        raise DataError("no files found", where=str(input), fix="pass a DICOM file or a folder holding some")
    deid = DicomDeidentifier(key=_key(key_file), allow_burned_in=allow_burned_in)
    reports, refused = [], []
    for f in files:
        rel = f.name if input.is_file() else f.relative_to(input)
        try:
            reports.append(asdict(deid.deidentify_file(f, out / rel)))
        except MedkitError as exc:  # one bad or refused file must not stop the batch; it is reported
            refused.append({"file": str(f), "reason": str(exc)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(dumps({"profile": "PS3.15 Basic Application Level Confidentiality",
                                            "files": reports, "refused": refused,
                                            "n_uids_remapped": len(deid.uid_map)}))
    typer.echo(f"{len(reports)} file(s) de-identified, {len(refused)} refused/unreadable. Report: {out / 'report.json'}")
    if refused and not reports:
        raise typer.Exit(2)


@app.command("k-anon")
def k_anon(
    input: Annotated[str, typer.Argument(help="CSV file, or 'physionet2012-a' / 'physionet2012-b' (static "
                                        "descriptors + in-hospital death).")],
    out: Annotated[Path, typer.Option(help="Output CSV (written only if k is met).")],
    qi: Annotated[list[str] | None, typer.Option("--qi", help="Quasi-identifier column (repeatable).")] = None,
    k: Annotated[int, typer.Option(help="Required k.")] = 5,
    l_div: Annotated[int | None, typer.Option("--l", help="Required distinct l-diversity of --sensitive.")] = None,
    sensitive: Annotated[str | None, typer.Option(help="Sensitive column (kept, never generalised).")] = None,
    keep: Annotated[list[str] | None, typer.Option(help="Other columns to export unchanged (repeatable).")] = None,
    max_suppression: Annotated[float, typer.Option(help="Largest fraction of rows that may be dropped.")] = 0.02,
    data_dir: DataDir = None,
) -> None:
    """Generalise quasi-identifiers until the table is k-anonymous (and l-diverse), then export it."""
    import pandas as pd

    from medkit.core.errors import ConfigError
    from medkit.core.runs import dumps
    from medkit.privacy.kanon import KAnonymizer, export_table, numeric_levels, physionet_hierarchies
    from medkit.privacy.kanon import categorical_levels as cat

    if input.startswith("physionet2012-"):
        from medkit.data.registry import load_dataset

        ds = load_dataset(input, data_dir=data_dir)
        table = ds.data.static.reset_index(drop=True).assign(death=ds.y)
        qi = qi or ["Age", "Gender", "Height", "ICUType"]
        sensitive = sensitive or "death"
    else:
        from medkit.data.tabular import read_csv

        table = read_csv(input)
    if not qi:
        raise ConfigError("no quasi-identifiers given", where="--qi", fix="pass --qi <column> for each one")
    known = physionet_hierarchies()
    hier = {}
    for c in qi:
        if c in known:
            hier[c] = known[c]
        elif c in table.columns and pd.api.types.is_numeric_dtype(table[c]):
            span = float(table[c].max() - table[c].min()) or 1.0
            hier[c] = numeric_levels([span / 20, span / 10, span / 5, span / 2])
        else:
            hier[c] = cat()
    res = KAnonymizer(hier, k=k, l=l_div, sensitive=sensitive, max_suppression=max_suppression).fit_transform(table)
    cols = list(qi) + ([sensitive] if sensitive else []) + list(keep or [])
    rep = export_table(res.table[cols], out, qi, k, sensitive, l_div)
    rep.n_suppressed, rep.levels, rep.information_loss = (res.report.n_suppressed, res.report.levels,
                                                          res.report.information_loss)
    Path(str(out) + ".report.json").write_text(dumps(rep))
    typer.echo(f"k={rep.k}" + (f", l={rep.l}" if rep.l is not None else "") + f"; {rep.n_classes} classes, "
               f"{rep.n_suppressed} row(s) suppressed; levels {rep.levels}. Output: {out}")
