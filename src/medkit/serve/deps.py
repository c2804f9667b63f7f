"""FastAPI dependencies: the service, the signed-in principal, role checks and CSRF for cookie sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from medkit.serve.security import Principal, allowed
from medkit.serve.service import Service

SESSION_COOKIE = "medkit_session"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def get_service(request: Request) -> Service:
    # async: a plain attribute read, not worth a trip through the thread pool
    return request.app.state.service  # type: ignore[no-any-return]


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(status_code=401, detail=why, headers={"WWW-Authenticate": "Bearer"})


def _session_principal(svc: Service, cookie: str) -> Principal | None:
    with svc.sf() as db:
        return svc.codec.principal(db, cookie)


async def optional_principal(request: Request, svc: Service = Depends(get_service)) -> Principal | None:
    """The principal from ``Authorization: Bearer`` or the session cookie, or None. A bad bearer token is an error.

    async so that a token found in the short-lived token cache (see :mod:`medkit.serve.authcache`) costs no trip
    through the thread pool; database lookups still run in the pool.
    """
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("malformed Authorization header; use 'Bearer <token>'")
        token_hash, p = svc.cached_principal(token.strip())
        if p is None:
            p = await run_in_threadpool(svc.principal_for_token, token_hash)
        if p is None:
            raise _unauthorized("invalid, expired or revoked token")
        return p
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await run_in_threadpool(_session_principal, svc, cookie)
    return None


async def current_principal(request: Request, p: Principal | None = Depends(optional_principal),
                      svc: Service = Depends(get_service)) -> Principal:
    if p is None:
        raise _unauthorized("sign in or send an API token (Authorization: Bearer <token>)")
    if p.must_change_password:
        raise HTTPException(status_code=403, detail="your password is temporary: choose a new one first "
                                                    "(web: /account; API: POST /api/v1/auth/password)")
    if p.via == "session" and request.method in _UNSAFE:
        # Browsers send cookies on cross-site requests; the CSRF token proves the request came from our page.
        token = request.headers.get(CSRF_HEADER) or request.query_params.get("csrf_token")
        if not svc.codec.check_csrf(p.session_hash or "", token):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
    return p


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dep(p: Principal = Depends(current_principal)) -> Principal:
        if not allowed(p.role, permission):
            raise HTTPException(status_code=403, detail=f"role '{p.role}' may not {permission.replace(':', ' ')}")
        return p

    return dep
