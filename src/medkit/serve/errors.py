"""Errors specific to the service, mapped to HTTP status codes in :mod:`medkit.serve.app`."""

from __future__ import annotations

from medkit.core.errors import MedkitError


class NotFound(MedkitError):
    """An unknown model, version, job or page (HTTP 404)."""


class UnsupportedMedia(MedkitError):
    """An upload of a type the endpoint does not accept (HTTP 415)."""


class ModelUnavailable(MedkitError):
    """A registered model cannot be loaded right now, e.g. its pillar is not installed (HTTP 503)."""
