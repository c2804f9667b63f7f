"""Progress bars for long work (rich), silent when not attached to a terminal unless forced."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_enabled() -> bool:
    """Progress is shown on a TTY, or everywhere when ``MEDKIT_PROGRESS=1``; ``0`` hides it."""
    flag = os.environ.get("MEDKIT_PROGRESS")
    if flag is not None:
        return flag not in {"0", "false", "no"}
    return sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar (no-op when progress is disabled)."""
    if not progress_enabled():
        yield from items
        return
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, transient=True)
