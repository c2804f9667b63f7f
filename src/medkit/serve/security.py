"""Users, passwords (argon2), API tokens, browser sessions and CSRF tokens.

Tokens and session ids are random (``secrets``) and only their sha256 is stored, so a copy of the database does not
let anyone sign in. Session cookies carry the session id signed with the server's secret key (itsdangerous);
the CSRF token is an HMAC of the session id under the same key (double-submit-free, stateless).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from medkit.core.errors import ConfigError
from medkit.serve.db import ROLES, ApiToken, User, WebSession, utcnow

_HASHER = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not reveal valid user names.
_DUMMY_HASH = _HASHER.hash("medkit-dummy-password")
TOKEN_PREFIX = "mk_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Principal:
    """The signed-in user of a request."""

    user_id: int
    username: str
    role: str
    via: str  # "token" | "session"
    session_hash: str | None = None
    must_change_password: bool = False  # temporary password: nothing but a password change is allowed


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def create_user(db: Session, username: str, password: str, role: str) -> User:
    """Add a user; raises :class:`ConfigError` for a bad name, role or a short password."""
    if not _USERNAME.match(username):
        raise ConfigError(f"invalid user name {username!r}", where="username",
                          fix="use 1-64 letters, digits, '_', '.', '@' or '-'")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", where="role", fix=f"use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password shorter than {MIN_PASSWORD} characters", where="password",
                          fix="choose a longer password")
    if db.execute(select(User).where(User.username == username)).scalar() is not None:
        raise ConfigError(f"user {username!r} already exists", where="username", fix="choose another name")
    user = User(username=username, password_hash=hash_password(password), role=role, active=True)
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with this password, else None (constant work whether or not the user exists)."""
    user = db.execute(select(User).where(User.username == username)).scalar()
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def issue_token(db: Session, user: User, *, days: float, name: str = "") -> str:
    """Create an API token for ``user``; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.add(ApiToken(user_id=user.id, token_hash=sha256_hex(token), name=name[:64],
                    expires_at=utcnow() + _dt.timedelta(days=days), revoked=False))
    db.flush()
    return token


def principal_from_token(db: Session | Connection, token: str) -> Principal | None:
    """The user of an API token, or None when it is unknown, expired, revoked or its user cannot use the API.

    One indexed lookup of the token's sha256 (columns only, no ORM objects: this runs on every API call).
    """
    found = token_lookup(db, sha256_hex(token))
    return found[0] if found else None


def token_lookup(db: Session | Connection, token_hash: str) -> tuple[Principal, _dt.datetime] | None:
    """:func:`principal_from_token` by the token's sha256, with the token's expiry time (for caches)."""
    row = db.execute(select(ApiToken.revoked, ApiToken.expires_at, User.id, User.username, User.role, User.active,
                            User.must_change_password).join(User, User.id == ApiToken.user_id)
                     .where(ApiToken.token_hash == token_hash)).first()
    if row is None:
        return None
    revoked, expires_at, user_id, username, role, active, must_change = row
    # A password reset revokes tokens; the flag check covers a token issued in between (belt and braces).
    if revoked or expires_at <= utcnow() or not active or must_change:
        return None
    return Principal(user_id, username, role, "token"), expires_at


class SessionCodec:
    """Signs session ids for cookies and derives CSRF tokens, both under the server secret."""

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()
        self._ser = URLSafeSerializer(secret_key, salt="medkit-session")

    def new_session(self, db: Session, user: User, *, hours: float) -> str:
        sid = secrets.token_urlsafe(32)
        db.add(WebSession(token_hash=sha256_hex(sid), user_id=user.id,
                          expires_at=utcnow() + _dt.timedelta(hours=hours)))
        db.flush()
        return self._ser.dumps(sid)

    def principal(self, db: Session, cookie: str) -> Principal | None:
        try:
            sid = self._ser.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(sid, str):
            return None
        h = sha256_hex(sid)
        row = db.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                         .where(WebSession.token_hash == h)).first()
        if row is None:
            return None
        sess, user = row
        if sess.expires_at <= utcnow() or not user.active:
            return None
        return Principal(user.id, user.username, user.role, "session", session_hash=h,
                         must_change_password=user.must_change_password)

    def csrf_token(self, session_hash: str) -> str:
        return hmac.new(self._key, f"csrf:{session_hash}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session_hash: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session_hash), str(token))

    def end_session(self, db: Session, session_hash: str) -> None:
        sess = db.execute(select(WebSession).where(WebSession.token_hash == session_hash)).scalar()
        if sess is not None:
            db.delete(sess)


# What each role may do. Clinicians apply clinical, imaging and treatment models; researchers work with molecules
# and read models; admins do everything, including registry changes, users and the audit log.
PERMISSIONS: dict[str, set[str]] = {
    "admin": {"models:read", "models:write", "predict:clinical", "predict:drug", "predict:imaging",
              "predict:treatment", "audit:read", "users:write"},
    "clinician": {"models:read", "predict:clinical", "predict:imaging", "predict:treatment"},
    "researcher": {"models:read", "predict:drug"},
}


def allowed(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, set())
