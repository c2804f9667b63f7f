"""Logging that never prints patient data.

medkit code logs counts, column names and file names, never cell values. As a
second line of defence, :class:`RedactingFilter` scrubs things that look like
identifiers (dates, phone numbers, e-mail addresses, long digit runs) from every
record that passes through a medkit logger.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[EMAIL]"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "[DATE]"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "[DATE]"),
    (re.compile(r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"), "[PHONE]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    (re.compile(r"\b\d{7,}\b"), "[ID]"),
]


def redact(text: str) -> str:
    """Replace identifier-like substrings of ``text`` with placeholders."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that applies :func:`redact` to the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the ``medkit`` hierarchy with redaction attached."""
    logger = logging.getLogger(name if name.startswith("medkit") else f"medkit.{name}")
    root = logging.getLogger("medkit")
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
