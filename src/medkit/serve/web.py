"""Server-rendered web UI (Jinja2, plain forms, a few lines of JS for job progress)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select
from starlette.datastructures import UploadFile

from medkit.core.errors import DataError, MedkitError
from medkit.serve import audit, registry, uploads
from medkit.serve.db import AuditEvent
from medkit.serve.deps import SESSION_COOKIE, get_service, optional_principal
from medkit.serve.security import Principal, allowed, authenticate
from medkit.serve.service import Service
from medkit.serve.webforms import form_fields, parse_row, parse_smiles

HERE = Path(__file__).resolve().parent
# Autoescape every template (the ".html.j2" suffix defeats Jinja's extension-based default): user text is inert.
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True))
router = APIRouter(include_in_schema=False)
PASSWORD_PATHS = ("/account", "/account/password", "/logout")
PILLAR_TITLES = {"clinical": "Patient risk", "drug": "Molecule properties", "imaging": "Image reading",
                 "treatment": "Treatment recommendation"}


def _ctx(request: Request, p: Principal | None, **kw: Any) -> dict[str, Any]:
    svc: Service = request.app.state.service
    csrf = svc.codec.csrf_token(p.session_hash) if p and p.session_hash else ""
    return {"request": request, "user": p, "csrf": csrf, "is_admin": bool(p and p.role == "admin"),
            "titles": PILLAR_TITLES, **kw}


def render_error(request: Request, status: int, what: str, where: str | None, fix: str | None) -> Response:
    p = getattr(request.state, "principal", None)
    return templates.TemplateResponse(request, "error.html.j2", _ctx(request, p, status=status, what=what,
                                                                      where=where, fix=fix), status_code=status)


def page_user(request: Request, p: Principal | None = Depends(optional_principal)) -> Principal:
    if p is None:
        raise HTTPException(status_code=401, detail="sign in")
    if p.must_change_password and request.url.path not in PASSWORD_PATHS:
        # Signed in with a temporary password: nothing but choosing a new one (or signing out).
        raise HTTPException(status_code=303, detail="choose a new password", headers={"Location": "/account"})
    request.state.principal = p
    return p


def _check_csrf(svc: Service, p: Principal, token: str) -> None:
    if p.via != "session" or not svc.codec.check_csrf(p.session_hash or "", token):
        raise HTTPException(status_code=403, detail="the form expired or did not come from this site; reload the page")


def _need(p: Principal, permission: str) -> None:
    if not allowed(p.role, permission):
        raise HTTPException(status_code=403, detail=f"your role ({p.role}) may not {permission.replace(':', ' ')}")


# -- sign in / out -------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html.j2", _ctx(request, None, error=None))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=1024),
          svc: Service = Depends(get_service)) -> Response:
    client = request.client.host if request.client else "unknown"
    if svc.login_bucket.take(f"login:{client}") > 0:
        return templates.TemplateResponse(request, "login.html.j2", _ctx(
            request, None, error="Too many sign-in attempts. Wait a minute and try again."), status_code=429)
    with svc.sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        user = authenticate(db, username, password)
        if user is None:
            audit.record(db, audit.Actor(username[:64]), "login.web", outcome="denied")
            cookie = None
        else:
            cookie = svc.codec.new_session(db, user, hours=svc.settings.session_hours)
            audit.record(db, audit.Actor(user.username, user.role), "login.web")
    if cookie is None:
        return templates.TemplateResponse(request, "login.html.j2", _ctx(
            request, None, error="Wrong user name or password."), status_code=401)
    resp = RedirectResponse("/account" if user is not None and user.must_change_password else "/", status_code=303)
    resp.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=svc.settings.secure_cookies,
                    max_age=int(svc.settings.session_hours * 3600), path="/")
    return resp


@router.post("/logout")
def logout(csrf_token: str = Form(""), p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    with svc.sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        svc.codec.end_session(db, p.session_hash or "")
        audit.record(db, audit.Actor(p.username, p.role), "logout.web")
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# -- models ----------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def home(request: Request, p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    with svc.sf() as db:
        models = registry.list_models(db)
    return templates.TemplateResponse(request, "models.html.j2", _ctx(request, p, models=models))


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str, p: Principal = Depends(page_user),
               svc: Service = Depends(get_service)) -> Response:
    with svc.sf() as db:
        model, current = registry.get_version(db, name, None)
        info = registry.list_models(db)
        card = current.card_md
    entry = next(m for m in info if m["name"] == name)
    return templates.TemplateResponse(request, "model.html.j2", _ctx(
        request, p, model=entry, current=registry.version_dict(model, current), card=card))


@router.post("/models/{name}/stage")
def stage(request: Request, name: str, version: int = Form(..., ge=1), stage: str = Form(...),
          csrf_token: str = Form(""), p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    _need(p, "models:write")
    registry.set_stage(svc.sf, name, version, stage, actor=audit.Actor(p.username, p.role))
    return RedirectResponse(f"/models/{name}", status_code=303)


# -- applying a model --------------------------------------------------------------------------------
def _model_context(svc: Service, name: str) -> tuple[str, dict[str, Any]]:
    with svc.sf() as db:
        model, mv = registry.get_version(db, name, None)
        return model.pillar, registry.version_dict(model, mv)


@router.get("/apply/{name}", response_class=HTMLResponse)
def apply_page(request: Request, name: str, p: Principal = Depends(page_user),
               svc: Service = Depends(get_service)) -> Response:
    pillar, ref = _model_context(svc, name)
    _need(p, f"predict:{pillar}")
    return templates.TemplateResponse(request, f"apply_{pillar}.html.j2", _ctx(
        request, p, name=name, ref=ref, fields=form_fields(ref["inputs"]), served=None, error=None, form={}))


@router.post("/apply/{name}", response_class=HTMLResponse)
async def apply(request: Request, name: str, p: Principal = Depends(page_user),
                svc: Service = Depends(get_service)) -> Response:
    from starlette.concurrency import run_in_threadpool

    pillar, ref = _model_context(svc, name)
    form = await request.form()
    _check_csrf(svc, p, str(form.get("csrf_token", "")))
    _need(p, f"predict:{pillar}")
    explain = form.get("explain") is not None
    fields = form_fields(ref["inputs"])
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    ctx = _ctx(request, p, name=name, ref=ref, fields=fields, served=None, error=None, form=values)
    try:
        upload = form.get("file")
        if pillar == "clinical" and isinstance(upload, UploadFile) and upload.filename:
            from medkit.serve.api import read_csv_rows

            data = await upload.read()
            inputs: Any = read_csv_rows(data)
            digest, detail = audit.input_hash(data), f"rows={len(inputs)} csv web"
            if len(inputs) > svc.settings.sync_max_rows:  # big files run as a job, like the API
                job = svc.submit_job(p, "clinical", "clinical", name, None, inputs, input_sha256=digest,
                                     explain=explain)
                return RedirectResponse(f"/jobs/{job['id']}", status_code=303)
        elif pillar in ("clinical", "treatment"):
            row = parse_row(fields, values)
            inputs, digest, detail = [row], audit.input_hash([row] if pillar == "clinical" else row), "web form"
        elif pillar == "drug":
            inputs = parse_smiles(values.get("smiles", ""),
                                  limit=svc.settings.max_smiles if values.get("as_job") else 1000)
            digest, detail = audit.input_hash(inputs), f"molecules={len(inputs)} web"
            if values.get("as_job"):
                job = svc.submit_job(p, "screen", "drug", name, None, inputs, input_sha256=digest)
                return RedirectResponse(f"/jobs/{job['id']}", status_code=303)
        else:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise DataError("no image chosen", where="file", fix="choose a PNG, DICOM or NIfTI file")
            data = await upload.read()
            kind = uploads.sniff_image(data)
            inputs = {"bytes": data, "filename": uploads.safe_name(data, kind)}
            digest, detail = audit.input_hash(data), f"type={kind} web"
        served = await run_in_threadpool(svc.predict, p, pillar, name, None, inputs, input_sha256=digest,
                                         explain=explain, detail=detail)
        ctx["served"] = served.as_dict()
        if pillar == "drug":
            ctx["structures"] = structures(inputs)
        status = 200
    except MedkitError as exc:
        if isinstance(exc, registry.NotFound):
            raise
        ctx["error"] = {"what": exc.what, "where": exc.where, "fix": exc.fix}
        status = 422
    return templates.TemplateResponse(request, f"apply_{pillar}.html.j2", ctx, status_code=status)


def structures(smiles: list[str]) -> dict[str, str]:
    """SVG drawings (as data URIs, so they cannot run script) of up to 50 molecules; empty when RDKit is absent."""
    try:
        from rdkit import Chem
        from rdkit.Chem.Draw import rdMolDraw2D
    except ImportError:
        return {}
    import base64

    out = {}
    for s in smiles[:50]:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        d = rdMolDraw2D.MolDraw2DSVG(220, 160)
        d.DrawMolecule(mol)
        d.FinishDrawing()
        out[s] = "data:image/svg+xml;base64," + base64.b64encode(d.GetDrawingText().encode()).decode()
    return out


# -- jobs and audit -----------------------------------------------------------------------------------
@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, p: Principal = Depends(page_user),
             svc: Service = Depends(get_service)) -> Response:
    status, result = svc.job_result(p, job_id)
    return templates.TemplateResponse(request, "job.html.j2", _ctx(request, p, job=status, result=result))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    _need(p, "audit:read")
    with svc.sf() as db:
        events = list(db.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(200)).scalars())
        ok, broken = audit.verify_chain(db)
    return templates.TemplateResponse(request, "audit.html.j2", _ctx(request, p, events=events, chain_ok=ok,
                                                                      broken=broken))


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


templates.env.filters["tojson_pretty"] = to_json
