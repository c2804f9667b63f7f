"""Web pages for accounts: your password and API tokens (``/account``), user administration (``/admin/users``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from medkit.core.errors import MedkitError
from medkit.serve import accounts, audit
from medkit.serve.deps import get_service
from medkit.serve.security import Principal
from medkit.serve.service import Service
from medkit.serve.web import _check_csrf, _ctx, _need, page_user, templates

router = APIRouter(include_in_schema=False)


def _account(request: Request, p: Principal, svc: Service, status: int = 200, **kw: Any) -> Response:
    with svc.sf() as db:
        tokens = accounts.token_dicts(db, p.user_id)
    ctx = _ctx(request, p, tokens=tokens, max_days=svc.settings.token_days,
               **{"new_token": None, "message": None, "error": None, **kw})
    return templates.TemplateResponse(request, "account.html.j2", ctx, status_code=status)


def _err(exc: MedkitError) -> dict[str, Any]:
    return {"what": exc.what, "where": exc.where, "fix": exc.fix}


@router.get("/account")
def account_page(request: Request, p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    return _account(request, p, svc)


@router.post("/account/password")
def account_password(request: Request, current_password: str = Form(..., max_length=1024),
                     new_password: str = Form(..., max_length=1024), confirm_password: str = Form(..., max_length=1024),
                     csrf_token: str = Form(""), p: Principal = Depends(page_user),
                     svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    if new_password != confirm_password:
        return _account(request, p, svc, 422, error={"what": "the two new passwords differ",
                                                     "where": "confirm_password", "fix": "type the same password twice"})
    try:
        with svc.sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            user = accounts.change_password(db, p.username, current_password, new_password,
                                            keep_session_hash=p.session_hash)
    except MedkitError as exc:
        return _account(request, p, svc, 422, error=_err(exc))
    if user is None:
        return _account(request, p, svc, 401, error={"what": "the current password is wrong",
                                                     "where": "current_password", "fix": "type your current password"})
    if p.must_change_password:  # the temporary password is gone: carry on to the models
        return RedirectResponse("/", status_code=303)
    return _account(request, p, svc, message="Password changed. Your other browser sessions were signed out.")


@router.post("/account/tokens")
def account_new_token(request: Request, name: str = Form("", max_length=64), days: float = Form(30.0),
                      csrf_token: str = Form(""), p: Principal = Depends(page_user),
                      svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    try:
        with svc.sf.begin() as db:
            audit.lock_chain(db)
            token, entry = accounts.create_token(db, p, name=name, days=days, max_days=svc.settings.token_days)
    except MedkitError as exc:
        return _account(request, p, svc, 422, error=_err(exc))
    # Shown on this one response only (no-store, like every page); only its sha256 is kept.
    return _account(request, p, svc, new_token={"token": token, **entry})


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke_token(request: Request, token_id: int, csrf_token: str = Form(""),
                         p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    with svc.sf.begin() as db:
        audit.lock_chain(db)
        entry = accounts.revoke_token(db, p, token_id)
    back = "/admin/users" if entry["owner"] != p.username else "/account"
    return RedirectResponse(back, status_code=303)


@router.get("/admin/users")
def users_page(request: Request, p: Principal = Depends(page_user), svc: Service = Depends(get_service)) -> Response:
    _need(p, "users:write")
    return _users(request, p, svc)


def _users(request: Request, p: Principal, svc: Service, **kw: Any) -> Response:
    with svc.sf() as db:
        users, tokens = accounts.user_dicts(db), accounts.token_dicts(db)
    ctx = _ctx(request, p, users=users, tokens=[t for t in tokens if t["status"] == "active"],
               **{"reset": None, **kw})
    return templates.TemplateResponse(request, "users.html.j2", ctx)


@router.post("/admin/users/{username}/reset-password")
def users_reset(request: Request, username: str, csrf_token: str = Form(""), p: Principal = Depends(page_user),
                svc: Service = Depends(get_service)) -> Response:
    _check_csrf(svc, p, csrf_token)
    _need(p, "users:write")
    with svc.sf.begin() as db:
        audit.lock_chain(db)
        temporary = accounts.reset_password(db, p, username)
    return _users(request, p, svc, reset={"username": username, "password": temporary})
