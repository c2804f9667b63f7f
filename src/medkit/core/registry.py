"""A small named registry used for datasets, models and metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from medkit.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Map names to objects; ``@registry.register("name")`` adds one.

    Lookup of an unknown name raises :class:`ConfigError` listing the known names.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ConfigError(
                f"{self.kind} '{name}' is registered twice",
                where=f"{self.kind} registry",
                fix="give each entry a unique name",
            )
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(
                f"unknown {self.kind} '{name}'",
                where=f"{self.kind} registry",
                fix=f"use one of: {known}",
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
