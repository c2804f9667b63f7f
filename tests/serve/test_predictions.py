"""Predictions through the API on real models of the four applications, checked against the models themselves."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from sqlalchemy import select

from medkit.serve.db import AuditEvent

from .conftest import Env, start_env
from .fixtures import bundles as fx


@pytest.fixture
def full(tmp_path: Path, clinical_bundle: Path, imaging_bundle: Path, treatment_bundle: Path) -> Env:
    yield from start_env(tmp_path / "home", {"wdbc-risk": clinical_bundle, "br35h": imaging_bundle,
                                             "actg-cd4": treatment_bundle}, sync_max_rows=100)


def _wdbc_rows(n: int) -> tuple[list[dict[str, float]], object]:
    from medkit.data import load_dataset

    X = load_dataset("wdbc").X.iloc[:n]
    return [{c: float(v) for c, v in row.items()} for _, row in X.iterrows()], X


def test_clinical_rows_match_the_model_and_name_the_version(full: Env, clinical_bundle: Path) -> None:
    rows, X = _wdbc_rows(20)
    r = full.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows, "explain": True},
                         headers=full.h("clinician"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["x-medkit-model"] == "wdbc-risk:1"
    assert body["model"]["name"] == "wdbc-risk" and body["model"]["version"] == 1
    assert body["model"]["stage"] == "production" and len(body["model"]["bundle_sha256"]) == 64
    # Reference: the scikit-learn pipeline inside the bundle, applied directly.
    ref = joblib.load(clinical_bundle / "model.joblib")["model"].predict_proba(X)[:, 1]
    got = np.array([p["risk"] for p in body["result"]["predictions"]])
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert all(len(p["top_features"]) == 5 for p in body["result"]["predictions"])
    # The audit record holds the hash of exactly this input, and not the input.
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":")).encode()
    assert body["input_sha256"] == hashlib.sha256(canonical).hexdigest()
    with full.svc.sf() as db:
        ev = db.execute(select(AuditEvent).where(AuditEvent.action == "predict.clinical")).scalar_one()
    assert (ev.actor, ev.model_version, ev.input_sha256) == ("clinician", 1, body["input_sha256"])


def test_csv_upload_equals_json_rows(full: Env) -> None:
    rows, X = _wdbc_rows(10)
    csv = X.to_csv(index=False).encode()
    r = full.client.post("/api/v1/clinical/wdbc-risk/predict-csv", files={"file": ("patients.csv", csv, "text/csv")},
                         headers=full.h("clinician"))
    j = full.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows}, headers=full.h("clinician"))
    assert r.status_code == 200, r.text
    a = [p["risk"] for p in r.json()["result"]["predictions"]]
    b = [p["risk"] for p in j.json()["result"]["predictions"]]
    np.testing.assert_allclose(a, b, rtol=1e-9)
    bad = full.client.post("/api/v1/clinical/wdbc-risk/predict-csv",
                           files={"file": ("x.csv", b"\x00\x01binary", "text/csv")}, headers=full.h("clinician"))
    assert bad.status_code == 415
    empty = full.client.post("/api/v1/clinical/wdbc-risk/predict-csv",
                             files={"file": ("x.csv", b"mean radius\n", "text/csv")}, headers=full.h("clinician"))
    assert empty.status_code == 422 and "no data rows" in empty.json()["detail"][0]["msg"]


def _wait(env: Env, url: str, role: str) -> dict:
    for _ in range(200):
        s = env.client.get(url, headers=env.h(role)).json()
        if s["status"] in ("done", "failed"):
            return s
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_big_batch_runs_as_a_job_with_progress_and_result_url(full: Env, clinical_bundle: Path) -> None:
    rows, X = _wdbc_rows(250)  # > sync_max_rows=100
    r = full.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows}, headers=full.h("clinician"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["status_url"] and job["model"] == {"name": "wdbc-risk", "version": 1}
    status = _wait(full, job["status_url"], "clinician")
    assert status["status"] == "done" and status["progress"] == 1.0
    res = full.client.get(job["result_url"], headers=full.h("clinician")).json()
    ref = joblib.load(clinical_bundle / "model.joblib")["model"].predict_proba(X)[:, 1]
    np.testing.assert_allclose([p["risk"] for p in res["result"]["predictions"]], ref, rtol=1e-12)
    # Another non-admin user cannot see it (looks missing); the admin can.
    assert full.client.get(job["status_url"], headers=full.h("researcher")).status_code == 404
    assert full.client.get(job["status_url"], headers=full.h("admin")).status_code == 200


def test_failed_job_reports_its_error(full: Env) -> None:
    rows, _ = _wdbc_rows(150)
    gap = [dict(r) for r in rows]
    del gap[140]["mean radius"]  # a left-out column is refused before the job starts
    r = full.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": gap}, headers=full.h("clinician"))
    assert r.status_code == 422 and r.json()["error"]["where"] == "rows[140].mean radius"
    rows[120] = {**rows[120], "mean radius": "large"}  # passes the API's checks, fails inside the model
    r = full.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows}, headers=full.h("clinician"))
    status = _wait(full, r.json()["status_url"], "clinician")
    assert status["status"] == "failed" and "must be a number" in status["error"]
    assert full.client.get(r.json()["result_url"], headers=full.h("clinician")).status_code == 409


def _br35h_png(i: int) -> bytes:
    from PIL import Image

    path, _ = fx.br35h_files(100)[i]
    buf = io.BytesIO()
    Image.open(path).convert("L").save(buf, format="PNG")
    return buf.getvalue()


def test_imaging_png_dicom_and_nifti_agree_and_return_an_overlay(full: Env, tmp_path: Path) -> None:
    import nibabel as nib
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    png = _br35h_png(150)  # a "yes" (tumour) slice
    arr = np.asarray(Image.open(io.BytesIO(png)), dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "x.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.eye(4)), tmp_path / "x.nii.gz")
    probs = {}
    for fname, data in [("x.png", png), ("x.dcm", (tmp_path / "x.dcm").read_bytes()),
                        ("x.nii.gz", (tmp_path / "x.nii.gz").read_bytes())]:
        r = full.client.post("/api/v1/imaging/br35h/predict", files={"file": (fname, data)},
                             data={"explain": "true"}, headers=full.h("clinician"))
        assert r.status_code == 200, (fname, r.text)
        res = r.json()["result"]
        probs[fname] = res["probability"]
        overlay = Image.open(io.BytesIO(__import__("base64").b64decode(res["overlay_png"])))
        assert overlay.size == arr.shape[::-1]
    assert probs["x.png"] == pytest.approx(probs["x.dcm"], abs=1e-9)
    assert probs["x.png"] == pytest.approx(probs["x.nii.gz"], abs=1e-6)


def test_treatment_recommendation_matches_per_arm_models(full: Env, treatment_bundle: Path) -> None:
    from medkit.data import load_dataset

    pt = {c: float(v) for c, v in load_dataset("actg175").data.iloc[5][fx.TREAT_FEATURES].items()}
    r = full.client.post("/api/v1/treatment/actg-cd4/recommend", json={"patient": pt}, headers=full.h("clinician"))
    assert r.status_code == 200, r.text
    rec = r.json()["result"]["predictions"][0]
    models = joblib.load(treatment_bundle / "model.joblib")
    x = np.array([[pt[c] for c in fx.TREAT_FEATURES]])
    ref = {fx.ARMS[a]: float(f[0].predict(x)[0]) for a, f in models.items()}
    got = {a["arm"]: a["expected_cd4_change"] for a in rec["arms"]}
    assert got == pytest.approx(ref)
    assert rec["recommended"] == max(ref, key=ref.get)
    assert all(a["ci_low"] <= a["ci_high"] for a in rec["arms"])


def test_drug_predict_and_screening_job(tmp_path: Path, drug_bundle: Path) -> None:
    smiles = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "not-a-smiles"]
    for env in start_env(tmp_path / "home", {"esol": drug_bundle}):
        r = env.client.post("/api/v1/drug/esol/predict", json={"smiles": smiles}, headers=env.h("researcher"))
        assert r.status_code == 200, r.text
        preds = r.json()["result"]["predictions"]
        X, ok = fx._descriptors(smiles)
        ref = joblib.load(drug_bundle / "model.joblib").predict(X)
        np.testing.assert_allclose([p["log_solubility"] for p in preds[:3]], ref[:3], rtol=1e-12)
        assert preds[3]["valid"] is False and r.json()["result"]["n_invalid"] == 1
        # Ethanol is far more water-soluble than benzene (measured log S 1.10 vs -1.64, Delaney 2004).
        assert preds[0]["log_solubility"] > preds[1]["log_solubility"]
        lib = ["C" * (i % 12 + 1) + "O" for i in range(200)]
        r = env.client.post("/api/v1/drug/esol/screen", json={"smiles": lib}, headers=env.h("researcher"))
        assert r.status_code == 202
        status = _wait(env, r.json()["status_url"], "researcher")
        assert status["status"] == "done"
        res = env.client.get(r.json()["result_url"], headers=env.h("researcher")).json()
        assert len(res["result"]["predictions"]) == 200
        assert env.client.post("/api/v1/drug/esol/predict", json={"smiles": smiles},
                               headers=env.h("clinician")).status_code == 403


def test_model_list_card_and_promotion(full: Env, clinical_bundle: Path, tmp_path: Path) -> None:
    import shutil

    from medkit.serve.audit import Actor
    from medkit.serve.registry import register

    changed = tmp_path / "v2"
    shutil.copytree(clinical_bundle, changed)
    (changed / "model_card.md").write_text("# v2 card\n")
    register(full.svc.sf, full.svc.settings.home, changed, "wdbc-risk", actor=Actor("admin", "admin"))
    models = {m["name"]: m for m in full.client.get("/api/v1/models", headers=full.h("clinician")).json()}
    assert set(models) == {"wdbc-risk", "br35h", "actg-cd4"}
    assert [(v["version"], v["stage"]) for v in models["wdbc-risk"]["versions"]] == [(1, "production"),
                                                                                   (2, "staging")]
    card = full.client.get("/api/v1/models/wdbc-risk/versions/1/card", headers=full.h("clinician")).json()
    assert "Held-out AUROC" in card["card_md"]
    rows, _ = _wdbc_rows(1)
    # Production (v1) serves by default; v2 only when asked for; after promotion v2 is the default.
    ver = lambda q="": full.client.post(f"/api/v1/clinical/wdbc-risk/predict{q}", json={"rows": rows},  # noqa: E731
                                        headers=full.h("clinician")).json()["model"]["version"]
    assert (ver(), ver("?version=2")) == (1, 2)
    r = full.client.post("/api/v1/models/wdbc-risk/versions/2/stage", json={"stage": "production"},
                         headers=full.h("admin"))
    assert r.status_code == 200 and r.json()["model"]["stage"] == "production"
    assert ver() == 2
    r = full.client.post("/api/v1/models/wdbc-risk/versions/2/stage", json={"stage": "retired"},
                         headers=full.h("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "stage"]


def test_web_csv_over_the_sync_limit_becomes_a_job(full: Env) -> None:
    import re

    from fastapi.testclient import TestClient

    from .conftest import PASSWORDS

    c = TestClient(full.app, base_url="http://127.0.0.1")
    c.post("/login", data={"username": "clinician", "password": PASSWORDS["clinician"]})
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', c.get("/apply/wdbc-risk").text).group(1)
    _, X = _wdbc_rows(150)
    r = c.post("/apply/wdbc-risk", data={"csrf_token": csrf},
               files={"file": ("p.csv", X.to_csv(index=False).encode(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    job_id = r.headers["location"].rsplit("/", 1)[1]
    assert _wait(full, f"/api/v1/jobs/{job_id}", "admin")["status"] == "done"
    page = c.get(r.headers["location"])
    assert "Batch prediction job" in page.text and page.text.count("<tr>") >= 150


def test_a_stored_bundle_changed_after_registration_is_refused_not_unpickled(env: Env) -> None:
    """Bundles are pickles: a stored copy whose sha256 no longer matches the registry is never loaded (503)."""
    with env.svc.sf() as db:
        from medkit.serve.db import ModelVersion

        stored = Path(db.execute(select(ModelVersion.bundle_dir)).scalar_one())
    model_file = stored / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # e.g. a swapped or tampered pickle
    rows, _ = _wdbc_rows(1)
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows}, headers=env.h("clinician"))
    assert r.status_code == 503, r.text
    assert "sha256 changed after registration" in r.text
    # Restoring the registered bytes makes the model usable again (nothing was cached from the bad copy).
    model_file.write_bytes(model_file.read_bytes()[:-1])
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": rows}, headers=env.h("clinician"))
    assert r.status_code == 200, r.text
