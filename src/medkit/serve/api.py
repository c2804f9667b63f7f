"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``)."""

from __future__ import annotations

import datetime as _dt
import io
from typing import Any

import orjson
from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select, text

from medkit import __version__
from medkit.core.errors import DataError
from medkit.serve import audit, registry, uploads
from medkit.serve.db import AuditEvent, utcnow
from medkit.serve.deps import current_principal, get_service, require
from medkit.serve.errors import NotFound
from medkit.serve.migrate import current_revision
from medkit.serve.schemas import (
    ERRORS,
    AuditPage,
    ClinicalRequest,
    DrugRequest,
    Health,
    JobResponse,
    JobResult,
    ModelCard,
    ModelInfo,
    PredictionResponse,
    Ready,
    ScreenRequest,
    StageRequest,
    TokenRequest,
    TokenResponse,
    TreatmentRequest,
    UserRequest,
    UserResponse,
)
from medkit.serve.security import Principal, authenticate, create_user, issue_token
from medkit.serve.service import Served, Service

router = APIRouter(prefix="/api/v1", responses=ERRORS)
VersionQ = Query(None, ge=1, le=1_000_000, description="Model version; default: production, else newest non-archived")
# Bounded so that a huge number is a 422, not an integer overflow inside the database driver (found by schemathesis).
VersionP = Path(ge=1, le=1_000_000, description="Model version")


def _served(served: Served) -> Response:
    """The prediction as JSON, serialised by orjson straight from the result (FastAPI's response-model validation and
    ``jsonable_encoder`` pass cost more than the model on a one-patient request; the OpenAPI schema is unchanged).
    NaN and infinity become ``null`` (strict JSON)."""
    body = orjson.dumps(served.as_dict(), default=jsonable_encoder,
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json",
                    headers={"X-Medkit-Model": f"{served.model['name']}:{served.model['version']}"})


def _job_response(job: dict[str, Any]) -> JSONResponse:
    return JSONResponse(job, status_code=202, headers={"Location": job["status_url"],
                                                       "X-Medkit-Model": f"{job['model']['name']}:"
                                                                         f"{job['model']['version']}"})


# -- service -----------------------------------------------------------------------------------
@router.get("/health", response_model=Health, tags=["service"])
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=Ready, tags=["service"])
def ready(svc: Service = Depends(get_service)) -> Any:
    """Readiness: the database answers and its schema is migrated."""
    with svc.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ready", "database": svc.engine.dialect.name, "schema_revision": current_revision(svc.engine)}


@router.post("/auth/token", response_model=TokenResponse, tags=["auth"])
def token(body: TokenRequest, request: Request, svc: Service = Depends(get_service)) -> Any:
    """Exchange a user name and password for a bearer API token."""
    client = request.client.host if request.client else "unknown"
    if svc.login_bucket.take(f"login:{client}") > 0:
        raise HTTPException(status_code=429, detail="too many sign-in attempts; wait a minute",
                            headers={"Retry-After": "60"})
    with svc.sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        user = authenticate(db, body.username, body.password)
        temporary = user is not None and user.must_change_password
        if user is None:
            audit.record(db, audit.Actor(body.username[:64]), "login.token", outcome="denied")
        elif temporary:
            audit.record(db, audit.Actor(user.username, user.role), "login.token", outcome="denied",
                         detail="temporary password")
        else:
            tok = issue_token(db, user, days=svc.settings.token_days, name=body.name)
            audit.record(db, audit.Actor(user.username, user.role), "login.token")
    if user is None:
        raise HTTPException(status_code=401, detail="wrong user name or password",
                            headers={"WWW-Authenticate": "Bearer"})
    if temporary:
        raise HTTPException(status_code=403, detail="your password is temporary: choose a new one first "
                                                    "(POST /api/v1/auth/password)")
    expires = utcnow() + _dt.timedelta(days=svc.settings.token_days)
    return {"token": tok, "token_type": "bearer", "expires_at": expires.isoformat(timespec="seconds") + "Z"}


@router.post("/users", response_model=UserResponse, status_code=201, tags=["auth"])
def add_user(body: UserRequest, p: Principal = Depends(require("users:write")),
             svc: Service = Depends(get_service)) -> Any:
    """Create a user (admins only)."""
    with svc.sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        user = create_user(db, body.username, body.password, body.role)
        audit.record(db, audit.Actor(p.username, p.role), "user.create", detail=f"user={user.username} "
                                                                                f"role={user.role}")
    return {"username": user.username, "role": user.role}


# -- models ------------------------------------------------------------------------------------
@router.get("/models", response_model=list[ModelInfo], tags=["models"])
def list_models(p: Principal = Depends(require("models:read")), svc: Service = Depends(get_service)) -> Any:
    """Registered models with their versions, stages and headline metrics."""
    with svc.sf() as db:
        return registry.list_models(db)


@router.get("/models/{name}", response_model=ModelInfo, tags=["models"])
def get_model(name: str, p: Principal = Depends(require("models:read")), svc: Service = Depends(get_service)) -> Any:
    """One model with all its versions."""
    with svc.sf() as db:
        for m in registry.list_models(db):
            if m["name"] == name:
                return m
    raise NotFound(f"no model named {name!r}", where="model name", fix="list models with GET /api/v1/models")


@router.get("/models/{name}/versions/{version}/card", response_model=ModelCard, tags=["models"])
def model_card(name: str, version: int = VersionP, p: Principal = Depends(require("models:read")),
               svc: Service = Depends(get_service)) -> Any:
    """The model card (markdown) attached to a version."""
    with svc.sf() as db:
        model, mv = registry.get_version(db, name, version)
        return {"model": registry.version_dict(model, mv), "card_md": mv.card_md}


@router.post("/models/{name}/versions/{version}/stage", response_model=ModelCard, tags=["models"])
def set_stage(name: str, body: StageRequest, version: int = VersionP, p: Principal = Depends(require("models:write")),
              svc: Service = Depends(get_service)) -> Any:
    """Move a version to staging, production or archived (admins only); audited."""
    registry.set_stage(svc.sf, name, version, body.stage, actor=audit.Actor(p.username, p.role))
    with svc.sf() as db:
        model, mv = registry.get_version(db, name, version)
        return {"model": registry.version_dict(model, mv), "card_md": mv.card_md}


# -- predictions -------------------------------------------------------------------------------
@router.post("/clinical/{name}/predict", response_model=PredictionResponse, tags=["clinical"],
             responses={202: {"model": JobResponse, "description": "Large batch: started as a job"}})
def clinical_predict(name: str, body: ClinicalRequest, version: int | None = VersionQ,
                     p: Principal = Depends(require("predict:clinical")), svc: Service = Depends(get_service)) -> Any:
    """Risk for patient rows. Batches over the server's ``sync_max_rows`` run as a job (202 + job URL)."""
    digest = audit.input_hash(body.rows)
    if len(body.rows) > svc.settings.sync_max_rows:
        return _job_response(svc.submit_job(p, "clinical", "clinical", name, version, list(body.rows),
                                            input_sha256=digest, explain=body.explain))
    return _served(svc.predict(p, "clinical", name, version, list(body.rows), input_sha256=digest,
                                         explain=body.explain, detail=f"rows={len(body.rows)}"))


def read_csv_rows(data: bytes) -> list[dict[str, Any]]:
    import pandas as pd

    textual = uploads.decode_csv(data)
    try:
        frame = pd.read_csv(io.StringIO(textual))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise DataError(f"the CSV could not be parsed ({type(exc).__name__})", where="file",
                        fix="upload a comma-separated file with one header row") from None
    if frame.empty:
        raise DataError("the CSV has no data rows", where="file", fix="add at least one patient row")
    frame = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


@router.post("/clinical/{name}/predict-csv", response_model=PredictionResponse, tags=["clinical"],
             responses={202: {"model": JobResponse, "description": "Large batch: started as a job"}})
async def clinical_predict_csv(name: str, file: UploadFile = File(...),
                               explain: bool = Form(False), version: int | None = VersionQ,
                               p: Principal = Depends(require("predict:clinical")),
                               svc: Service = Depends(get_service)) -> Any:
    """Risk for every row of an uploaded CSV (header row with the model's feature names)."""
    data = await file.read()
    rows = read_csv_rows(data)
    digest = audit.input_hash(data)
    if svc.settings.retain_uploads:
        uploads.store(svc.upload_dir(), data, "csv")
    if len(rows) > svc.settings.sync_max_rows:
        return _job_response(svc.submit_job(p, "clinical", "clinical", name, version, rows, input_sha256=digest,
                                            explain=explain))
    from starlette.concurrency import run_in_threadpool

    served = await run_in_threadpool(svc.predict, p, "clinical", name, version, rows, input_sha256=digest,
                                     explain=explain, detail=f"rows={len(rows)} csv")
    return _served(served)


@router.post("/drug/{name}/predict", response_model=PredictionResponse, tags=["drug"])
def drug_predict(name: str, body: DrugRequest, version: int | None = VersionQ,
                 p: Principal = Depends(require("predict:drug")), svc: Service = Depends(get_service)) -> Any:
    """Predicted properties for up to 1000 SMILES."""
    digest = audit.input_hash(body.smiles)
    return _served(svc.predict(p, "drug", name, version, list(body.smiles), input_sha256=digest,
                                         explain=body.explain, detail=f"molecules={len(body.smiles)}"))


@router.post("/drug/{name}/screen", response_model=JobResponse, status_code=202, tags=["drug"])
def drug_screen(name: str, body: ScreenRequest, version: int | None = VersionQ,
                p: Principal = Depends(require("predict:drug")), svc: Service = Depends(get_service)) -> Any:
    """Screen a batch of SMILES as a background job; poll the status URL, then fetch the result URL."""
    if len(body.smiles) > svc.settings.max_smiles:
        raise DataError(f"{len(body.smiles)} SMILES exceed the server limit of {svc.settings.max_smiles}",
                        where="smiles", fix="split the library into several jobs")
    return _job_response(svc.submit_job(p, "screen", "drug", name, version, list(body.smiles),
                                        input_sha256=audit.input_hash(body.smiles)))


@router.post("/imaging/{name}/predict", response_model=PredictionResponse, tags=["imaging"])
async def imaging_predict(name: str, file: UploadFile = File(...), explain: bool = Form(True),
                          version: int | None = VersionQ, p: Principal = Depends(require("predict:imaging")),
                          svc: Service = Depends(get_service)) -> Any:
    """Label (or mask) for an uploaded PNG, JPEG, TIFF, DICOM or NIfTI image, with a Grad-CAM overlay when ``explain``.

    The predictor receives ``{"bytes": ..., "filename": "upload.<type>"}``; the client's file name is not used.
    """
    from starlette.concurrency import run_in_threadpool

    data = await file.read()
    kind = uploads.sniff_image(data)
    stored = uploads.store(svc.upload_dir(), data, kind) if svc.settings.retain_uploads else None
    inputs = {"bytes": data, "filename": uploads.safe_name(data, kind)}
    served = await run_in_threadpool(svc.predict, p, "imaging", name, version, inputs,
                                     input_sha256=audit.input_hash(data),
                                     explain=explain, detail=f"type={kind} bytes={len(data)}"
                                     + (f" stored={stored.name}" if stored else ""))
    return _served(served)


@router.post("/treatment/{name}/recommend", response_model=PredictionResponse, tags=["treatment"])
def treatment_recommend(name: str, body: TreatmentRequest, version: int | None = VersionQ,
                        p: Principal = Depends(require("predict:treatment")),
                        svc: Service = Depends(get_service)) -> Any:
    """Recommended arm for one patient with the expected benefit of each arm and its uncertainty."""
    digest = audit.input_hash(body.patient)
    return _served(svc.predict(p, "treatment", name, version, [dict(body.patient)], input_sha256=digest,
                                         explain=body.explain, detail="patients=1"))


# -- jobs and audit ----------------------------------------------------------------------------
@router.get("/jobs/{job_id}", response_model=JobResponse, tags=["jobs"])
def job_status(job_id: str, p: Principal = Depends(current_principal), svc: Service = Depends(get_service)) -> Any:
    return svc.job_status(p, job_id)


@router.get("/jobs/{job_id}/result", response_model=JobResult, tags=["jobs"])
def job_result(job_id: str, p: Principal = Depends(current_principal), svc: Service = Depends(get_service)) -> Any:
    status, result = svc.job_result(p, job_id)
    if status["status"] != "done":
        return JSONResponse({"detail": f"job is {status['status']}", "error": {
            "type": "JobNotDone", "what": f"job is {status['status']}", "where": "job",
            "fix": status["error"] or "poll the status URL until status is 'done'"}}, status_code=409)
    return {"job": status, "result": result}


@router.get("/audit", response_model=AuditPage, tags=["audit"])
def audit_log(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
              p: Principal = Depends(require("audit:read")), svc: Service = Depends(get_service)) -> Any:
    """The audit log, newest first (admins only), and whether its hash chain is intact."""
    with svc.sf() as db:
        rows = db.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).offset(offset).limit(limit)).scalars()
        events = [{"id": e.id, "at": e.at.isoformat(timespec="seconds") + "Z", "actor": e.actor, "role": e.role,
                   "action": e.action, "outcome": e.outcome, "model_name": e.model_name,
                   "model_version": e.model_version, "input_sha256": e.input_sha256, "detail": e.detail,
                   "hash": e.hash} for e in rows]
        ok, _ = audit.verify_chain(db)
    return {"events": events, "chain_ok": ok}
