"""Account endpoints of the JSON API: change a password, administrator password reset, list and revoke tokens.

New tokens come from ``POST /api/v1/auth/token`` (user name and password) or the web UI's account page, never from
another token, so a leaked token cannot extend its own life.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from medkit.serve import accounts, audit
from medkit.serve.deps import current_principal, get_service, require
from medkit.serve.schemas import ERRORS, PasswordChanged, PasswordChangeRequest, PasswordReset, TokenInfo
from medkit.serve.security import Principal
from medkit.serve.service import Service

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["auth"])
TokenId = Path(ge=1, le=2**31 - 1, description="Token id (from GET /api/v1/auth/tokens)")


@router.post("/auth/password", response_model=PasswordChanged)
def change_password(body: PasswordChangeRequest, request: Request, svc: Service = Depends(get_service)) -> Any:
    """Change your own password with the current one (no token needed, so a temporary password can be replaced).

    Ends your browser sessions; API tokens stay valid (revoke them separately if they may have leaked).
    """
    client = request.client.host if request.client else "unknown"
    if svc.login_bucket.take(f"login:{client}") > 0:  # same brute-force guard as sign-in
        raise HTTPException(status_code=429, detail="too many attempts; wait a minute", headers={"Retry-After": "60"})
    with svc.sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        user = accounts.change_password(db, body.username, body.current_password, body.new_password)
    if user is None:
        raise HTTPException(status_code=401, detail="wrong user name or password")
    return {"username": user.username, "other_sessions_ended": True}


@router.post("/users/{username}/password", response_model=PasswordReset)
def reset_password(username: str = Path(min_length=1, max_length=64), p: Principal = Depends(require("users:write")),
                   svc: Service = Depends(get_service)) -> Any:
    """Set a random temporary password for a user (admins only); shown once. Ends the user's sessions and tokens."""
    with svc.sf.begin() as db:
        audit.lock_chain(db)
        temporary = accounts.reset_password(db, p, username)
    return {"username": username, "temporary_password": temporary, "must_change_password": True}


@router.get("/auth/tokens", response_model=list[TokenInfo])
def list_tokens(all_users: bool = False, p: Principal = Depends(current_principal),
                svc: Service = Depends(get_service)) -> Any:
    """Your API tokens (admins with ``all_users=true``: everyone's), newest first, without the secrets."""
    if all_users and p.role != "admin":
        raise HTTPException(status_code=403, detail=f"role '{p.role}' may not list other users' tokens")
    with svc.sf() as db:
        return accounts.token_dicts(db, None if all_users else p.user_id)


@router.delete("/auth/tokens/{token_id}", response_model=TokenInfo)
def revoke_token(token_id: int = TokenId, p: Principal = Depends(current_principal),
                 svc: Service = Depends(get_service)) -> Any:
    """Revoke one of your tokens (admins: anyone's); audited. Revoking a revoked token changes nothing."""
    with svc.sf.begin() as db:
        audit.lock_chain(db)
        return accounts.revoke_token(db, p, token_id)
