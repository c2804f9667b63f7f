"""Alias module so that ``medkit.errors.DataError`` works as STYLE.md spells it."""

from medkit.core.errors import *  # noqa: F403
from medkit.core.errors import __all__  # noqa: F401
