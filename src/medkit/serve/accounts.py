"""Account self-service and administration: password change, administrator password reset, API token management.

Every function here takes the caller's open transaction and writes its audit record in it, so the change and its
record land together or not at all. Callers take :func:`medkit.serve.audit.lock_chain` first (one lock order).

- A user changes their own password by proving the current one; their other browser sessions end.
- An administrator resets a password to a random temporary one, shown once. The user's sessions and API tokens
  end (a reset usually means the account may be compromised) and, until they choose a new password, a sign-in
  with the temporary one only opens the password-change page; no API token is issued for it.
- API tokens are listed without their secret (only the sha256 is stored), created from a signed-in browser session
  (the plain token is shown once) and revoked by their owner or an administrator.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medkit.core.errors import ConfigError
from medkit.serve import audit
from medkit.serve.db import ApiToken, User, WebSession, utcnow
from medkit.serve.errors import NotFound
from medkit.serve.security import MIN_PASSWORD, Principal, authenticate, hash_password, issue_token, sha256_hex

MAX_TOKENS_PER_USER = 50


def _check_new_password(password: str, *, old: str | None = None) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the new password is shorter than {MIN_PASSWORD} characters", where="new_password",
                          fix="choose a longer password (a passphrase of several words works well)")
    if old is not None and secrets.compare_digest(password.encode(), old.encode()):
        raise ConfigError("the new password is the same as the current one", where="new_password",
                          fix="choose a different password")


def _user(db: Session, username: str) -> User:
    user = db.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise NotFound(f"no user named {username!r}", where="username", fix="check the user name")
    return user


def change_password(db: Session, username: str, current: str, new: str, *,
                    keep_session_hash: str | None = None) -> User | None:
    """Set a new password after checking the current one; None (and a ``denied`` audit record) if it is wrong.

    Ends the user's other browser sessions (all but ``keep_session_hash``) and clears a temporary-password flag.
    """
    user = authenticate(db, username, current)
    if user is None:
        audit.record(db, audit.Actor(username[:64]), "password.change", outcome="denied")
        return None
    _check_new_password(new, old=current)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    ended = _end_sessions(db, user.id, keep=keep_session_hash)
    audit.record(db, audit.Actor(user.username, user.role), "password.change", detail=f"other_sessions_ended={ended}")
    return user


def _end_sessions(db: Session, user_id: int, *, keep: str | None = None) -> int:
    sessions = db.execute(select(WebSession).where(WebSession.user_id == user_id)).scalars().all()
    n = 0
    for sess in sessions:
        if sess.token_hash != keep:
            db.delete(sess)
            n += 1
    return n


def reset_password(db: Session, admin: Principal, username: str) -> str:
    """Give ``username`` a random temporary password (returned once, never stored or logged in plain text)."""
    user = _user(db, username)
    temporary = secrets.token_urlsafe(12)  # 16 characters, ~96 bits
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    ended = _end_sessions(db, user.id)
    tokens = db.execute(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))).scalars()
    revoked = 0
    for tok in tokens:
        tok.revoked = True
        revoked += 1
    audit.record(db, audit.Actor(admin.username, admin.role), "password.reset",
                 detail=f"user={user.username} sessions_ended={ended} tokens_revoked={revoked}")
    return temporary


def token_dicts(db: Session, user_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens (newest first) of one user, or of everyone when ``user_id`` is None; never the token itself."""
    q = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
    if user_id is not None:
        q = q.where(ApiToken.user_id == user_id)
    now = utcnow()
    out = []
    for tok, owner in db.execute(q).all():
        status = "revoked" if tok.revoked else ("expired" if tok.expires_at <= now else "active")
        out.append({"id": tok.id, "name": tok.name, "owner": owner, "status": status,
                    "created_at": tok.created_at.isoformat(timespec="seconds") + "Z",
                    "expires_at": tok.expires_at.isoformat(timespec="seconds") + "Z"})
    return out


def create_token(db: Session, p: Principal, *, name: str, days: float, max_days: float) -> tuple[str, dict[str, Any]]:
    """A new API token for the signed-in user: ``(plain token, its listing entry)``; the plain token is shown once."""
    if not 0 < days <= max_days:
        raise ConfigError(f"token lifetime must be between 1 and {max_days:g} days", where="days",
                          fix=f"choose at most {max_days:g} days (the server's limit)")
    active = db.execute(select(ApiToken.id).where(ApiToken.user_id == p.user_id, ApiToken.revoked.is_(False),
                                                  ApiToken.expires_at > utcnow())).all()
    if len(active) >= MAX_TOKENS_PER_USER:
        raise ConfigError(f"you already have {len(active)} active tokens", where="tokens",
                          fix="revoke tokens you no longer use")
    user = db.get(User, p.user_id)
    assert user is not None
    token = issue_token(db, user, days=days, name=name.strip()[:64])
    row = db.execute(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token))).scalar_one()
    audit.record(db, audit.Actor(p.username, p.role), "token.create", detail=f"token_id={row.id} days={days:g}")
    entry = next(t for t in token_dicts(db, user.id) if t["id"] == row.id)
    return token, entry


def revoke_token(db: Session, p: Principal, token_id: int) -> dict[str, Any]:
    """Revoke a token of the caller (administrators: anyone's). Someone else's token looks like a missing one."""
    row = db.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                     .where(ApiToken.id == token_id)).first()
    if row is None or (row[0].user_id != p.user_id and p.role != "admin"):
        raise NotFound(f"no token {token_id}", where="token id", fix="list your tokens (GET /api/v1/auth/tokens)")
    tok, owner = row
    if not tok.revoked:
        tok.revoked = True
        audit.record(db, audit.Actor(p.username, p.role), "token.revoke",
                     detail=f"token_id={tok.id} owner={owner.username}")
    return next(t for t in token_dicts(db, owner.id) if t["id"] == tok.id)


def user_dicts(db: Session) -> list[dict[str, Any]]:
    """Users with role, state and their number of active API tokens (administration page)."""
    now = utcnow()
    out = []
    for user in db.execute(select(User).order_by(User.username)).scalars():
        n = len(db.execute(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False),
                                                     ApiToken.expires_at > now)).all())
        out.append({"username": user.username, "role": user.role, "active": user.active,
                    "must_change_password": user.must_change_password, "active_tokens": n,
                    "created_at": (user.created_at or now).isoformat(timespec="seconds") + "Z"})
    return out
