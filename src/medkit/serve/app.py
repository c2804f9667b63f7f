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
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from medkit import __version__
from medkit.core.errors import DataError, MedkitError
from medkit.core.logging import get_logger
from medkit.serve.apidocs import ASSETS_URL, DOCS_CSP, DOCS_PREFIX, mount_docs
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


class SecurityHeadersMiddleware:
    """Headers on every response (plain ASGI: no per-request task group, unlike ``@app.middleware``).

    ``Cache-Control: no-store`` unless the route set one; the strict CSP everywhere except the interactive API
    docs, which get their own (inline start-up script allowed, still no other host).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static_docs = scope["path"].startswith(ASSETS_URL)
        csp = DOCS_CSP if scope["path"].startswith((DOCS_PREFIX, ASSETS_URL)) else _CSP

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    # Pages and API answers may hold patient data; the docs' 2.8 MB of JavaScript does not.
                    headers["Cache-Control"] = "public, max-age=3600" if static_docs else "no-store"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers["Content-Security-Policy"] = csp
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
                  docs_url=None, redoc_url=None,
                  description="Clinical risk, drug property, imaging and treatment models behind authentication "
                              "and an append-only audit log. Every prediction names the model version used.")
    app.state.service = service
    app.state.settings = service.settings

    from medkit.serve.api import router
    from medkit.serve.api_account import router as account_router
    from medkit.serve.web import router as web_router
    from medkit.serve.web_account import router as web_account_router

    app.include_router(router)
    app.include_router(account_router)
    app.include_router(web_router)
    app.include_router(web_account_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    mount_docs(app, "/api/v1/openapi.json")

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
        if _wants_html(request) and exc.status_code in (401, 303):
            from fastapi.responses import RedirectResponse

            where = (exc.headers or {}).get("Location", "/account") if exc.status_code == 303 else "/login"
            return RedirectResponse(where, status_code=303)
        if _wants_html(request):
            from medkit.serve.web import render_error

            return render_error(request, exc.status_code, str(exc.detail), None, None)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_middleware(SecurityHeadersMiddleware)
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
