"""Mutations layered over the generated content: what tests change between two syncs."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any


class Overlay:
    """Changed records by key, added children by container, and a revision counter for caches."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.changed: dict[str, dict[str, Any] | None] = {}
        self.added: dict[str, list[str]] = {}
        self.revision = 0

    def now(self) -> float:
        """The current instant at millisecond precision, as the real APIs report it."""
        return round(self.clock(), 3)

    def get(self, key: str, generate: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        if key in self.changed:
            return self.changed[key]
        return generate()

    def put(self, key: str, record: dict[str, Any] | None) -> None:
        self.changed[key] = copy.deepcopy(record)
        self.revision += 1

    def add_child(self, container: str, child_id: str) -> None:
        self.added.setdefault(container, []).append(child_id)
        self.revision += 1

    def children(self, container: str) -> list[str]:
        return self.added.get(container, [])


class RevisionCache:
    """Remembers expensive derived listings until the next mutation."""

    def __init__(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self.entries: dict[Any, tuple[int, Any]] = {}

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        hit = self.entries.get(key)
        if hit and hit[0] == self.overlay.revision:
            return hit[1]
        value = build()
        if len(self.entries) > 256:
            self.entries.clear()
        self.entries[key] = (self.overlay.revision, value)
        return value
