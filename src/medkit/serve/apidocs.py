"""Interactive API documentation (Swagger UI at ``/api/v1/docs``, ReDoc at ``/api/v1/redoc``) served offline.

Hospital networks often have no internet access, and a CDN script on a page that handles patient data is a supply
chain risk, so the JavaScript and CSS come from the ``fastapi-offline`` wheel (pinned in the ``serve`` extra) and are
served by this server. The pages get their own Content-Security-Policy: the inline start-up script that Swagger UI
needs is allowed, any other host is not (``'self'`` only), so nothing is fetched from outside even by accident.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from medkit.core.errors import MissingDependencyError

DOCS_PREFIX = "/api/v1/docs"  # every docs path starts with this (the CSP switch in app.py relies on it)
ASSETS_URL = "/api/v1/docs-assets"
REDOC_URL = "/api/v1/docs/redoc"
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def assets_dir() -> Path:
    """Folder with ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and ``favicon.png``."""
    try:
        import fastapi_offline
    except ImportError:
        raise MissingDependencyError("the offline API docs need fastapi-offline", where="medkit serve",
                                     fix="pip install 'medkit[serve]'") from None
    return Path(fastapi_offline.__file__).resolve().parent / "static"


def mount_docs(app: FastAPI, openapi_url: str) -> None:
    """Add the Swagger UI and ReDoc pages and their static assets to ``app`` (FastAPI's CDN pages stay off)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = app.title

    @app.get(DOCS_PREFIX, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - API", swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # Swagger UI would otherwise load a badge from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{title} - API reference",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)
