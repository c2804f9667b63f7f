"""``create_app``: the FastAPI application (API + web UI) with security middleware and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from medkit import __version__
from medkit.core.errors import DataError, MedkitError
from medkit.core.logging import get_logger
from medkit.serve.errors import ModelUnavailable, NotFound, UnsupportedMedia
from medkit.serve.limits import BodyLimitMiddleware, RateLimitMiddleware
from medkit.serve.predictors import Loader
from medkit.serve.service import Service
from medkit.serve.settings import ServeSettings

HERE = Path(__file__).resolve().parent
log = get_logger("medkit.serve")
# Pages hold patient data: no caching anywhere; no framing; scripts and styles only from this server.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def _status_for(exc: MedkitError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, UnsupportedMedia):
        return 415
    if isinstance(exc, ModelUnavailable):
        return 503
    if isinstance(exc, DataError):
        return 422
    return 400  # ConfigError, SecurityError and the rest: the request asked for something invalid


def _error_json(exc: MedkitError, status: int) -> dict[str, Any]:
    err = {"type": type(exc).__name__, "what": exc.what, "where": exc.where, "fix": exc.fix}
    if status == 422:  # same shape as FastAPI's own validation errors, so clients parse one format
        return {"detail": [{"loc": ["body", exc.where or "input"], "msg": str(exc), "type": f"medkit.{err['type']}"}],
                "error": err}
    return {"detail": str(exc), "error": err}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def create_app(settings: ServeSettings | None = None, *, loaders: Mapping[str, Loader] | None = None,
               sweep_jobs: bool = True) -> FastAPI:
    """Build the application. Raises :class:`SecurityError` when the secret key is missing outside dev mode.

    Parameters
    ----------
    settings
        Service settings (default: :meth:`ServeSettings.from_env`).
    loaders
        Optional ``{pillar: load_predictor}`` overrides (tests, custom deployments); default is
        ``medkit.<pillar>.serving.load_predictor``.
    """
    settings = settings or ServeSettings.from_env()
    service = Service.start(settings, loaders, sweep_jobs=sweep_jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="medkit serve", version=__version__, lifespan=lifespan, openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None,
                  description="Clinical risk, drug property, imaging and treatment models behind authentication "
                              "and an append-only audit log. Every prediction names the model version used.")
    app.state.service = service
    app.state.settings = service.settings

    from medkit.serve.api import router
    from medkit.serve.web import router as web_router

    app.include_router(router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(MedkitError)
    async def _medkit_error(request: Request, exc: MedkitError) -> Response:
        status = _status_for(exc)
        if _wants_html(request):
            from medkit.serve.web import render_error

            return render_error(request, status, exc.what, exc.where, exc.fix)
        return JSONResponse(_error_json(exc, status), status_code=status)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _db_error(request: Request, exc: Exception) -> Response:
        log.error("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        what, fix = "the database is unavailable", "try again shortly; if it persists, tell your administrator"
        if _wants_html(request):
            from medkit.serve.web import render_error

            return render_error(request, 503, what, "database", fix)
        return JSONResponse({"detail": what, "error": {"type": "DatabaseUnavailable", "what": what,
                                                       "where": "database", "fix": fix}},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_html(request) and exc.status_code == 401:
            from fastapi.responses import RedirectResponse

            return RedirectResponse("/login", status_code=303)
        if _wants_html(request):
            from medkit.serve.web import render_error

            return render_error(request, exc.status_code, str(exc.detail), None, None)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith("/api/v1/docs"):
            response.headers["Content-Security-Policy"] = _CSP
        return response

    # The middleware added last is outermost: the size limit runs before anything reads the body.
    app.add_middleware(RateLimitMiddleware, rate=service.settings.rate_per_s, burst=service.settings.burst)
    app.add_middleware(BodyLimitMiddleware, max_bytes=service.settings.max_upload_bytes)
    return app


SETTINGS_ENV = "MEDKIT_SERVE_SETTINGS"


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes (``medkit serve --workers N``): settings come as JSON from the parent,
    which has already migrated the database and checked the secret."""
    import os

    return create_app(ServeSettings.model_validate_json(os.environ[SETTINGS_ENV]), sweep_jobs=False)
