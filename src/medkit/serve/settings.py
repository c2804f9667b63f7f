"""Settings of ``medkit serve``: database, secret key, limits. Read from arguments and environment at start-up.

Nothing here reads the environment at import; :meth:`ServeSettings.from_env` does it when the server starts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.errors import SecurityError

# Values people paste from tutorials; a server started with one of these is as good as open.
_WEAK_SECRETS = {"", "secret", "changeme", "change-me", "dev", "development", "default", "medkit", "password",
                 "your-secret-key", "secret-key", "please-change-me", "test"}
MIN_SECRET_CHARS = 32


def default_home() -> Path:
    return Path(os.environ.get("MEDKIT_SERVE_HOME", Path.home() / ".medkit" / "serve"))


class ServeSettings(StrictModel):
    """Everything the service needs to start.

    Attributes
    ----------
    database_url
        SQLAlchemy URL. Default: a SQLite file under ``home``; PostgreSQL via ``MEDKIT_DATABASE_URL``
        (``postgresql+psycopg://user:pass@host/db``).
    home
        Folder for the model store (copies of registered bundles), uploads and job results.
    secret_key
        Signs session cookies and CSRF tokens. Required (>= 32 characters, not a known default) unless ``dev``.
    dev
        Development mode: a random secret is generated when none is given, cookies are not marked Secure,
        and an ``admin`` user with a printed random password is created when the database has no user.
    max_upload_bytes
        Largest request body accepted; larger ones get 413 before the body is stored.
    rate_per_s, burst
        Token-bucket rate limit per client (API token, session or IP address).
    login_per_min
        Sign-in attempts allowed per minute per client address (brute-force guard).
    sync_max_rows
        Clinical batches larger than this run as a background job.
    token_cache_s
        How long a valid API token's lookup is reused in a process (0 turns the cache off). Revocations and password
        changes made through the same process apply at once; made elsewhere (CLI, another worker), within this time.
    retain_uploads
        Keep uploaded files (under generated names) after the prediction; off by default because uploads may hold PHI.
    """

    database_url: str | None = None
    home: Path = Field(default_factory=default_home)
    secret_key: str | None = None
    dev: bool = False
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0)
    rate_per_s: float = Field(50.0, gt=0)
    burst: int = Field(100, ge=1)
    login_per_min: int = Field(10, ge=1)
    sync_max_rows: int = Field(500, ge=1)
    max_smiles: int = Field(100_000, ge=1)
    session_hours: float = Field(8.0, gt=0)
    token_days: float = Field(30.0, gt=0)
    token_cache_s: float = Field(2.0, ge=0, le=60)
    job_workers: int = Field(1, ge=1)
    retain_uploads: bool = False
    cookie_secure: bool | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> ServeSettings:
        """Settings from ``MEDKIT_DATABASE_URL``, ``MEDKIT_SECRET_KEY``, ``MEDKIT_SERVE_HOME``; explicit overrides win."""
        values: dict[str, object] = {}
        if os.environ.get("MEDKIT_DATABASE_URL"):
            values["database_url"] = os.environ["MEDKIT_DATABASE_URL"]
        if os.environ.get("MEDKIT_SECRET_KEY"):
            values["secret_key"] = os.environ["MEDKIT_SECRET_KEY"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'medkit.db').resolve()}"

    @property
    def secure_cookies(self) -> bool:
        return (not self.dev) if self.cookie_secure is None else self.cookie_secure

    def checked(self) -> ServeSettings:
        """Return settings with a usable secret, or raise :class:`SecurityError` outside ``dev`` mode."""
        key = self.secret_key
        if key is None or key.strip().lower() in _WEAK_SECRETS or len(key) < MIN_SECRET_CHARS:
            if not self.dev:
                reason = "missing" if not key else ("a known default" if key.strip().lower() in _WEAK_SECRETS
                                                    else f"shorter than {MIN_SECRET_CHARS} characters")
                raise SecurityError(
                    f"refusing to start: the secret key is {reason}", where="MEDKIT_SECRET_KEY",
                    fix="export MEDKIT_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                        "or pass --dev for a local trial")
            return self.model_copy(update={"secret_key": secrets.token_urlsafe(48)})
        return self
