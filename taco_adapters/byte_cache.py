"""A least-recently-used cache bounded by the bytes it holds.

The durable stores keep recent head versions (and S3 its immutable version
objects) here, so a state that has not changed is served without reading it
again. What may be cached is decided by each store: only what a cheap check
can prove current, or what never changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_BUDGET = 64 * 1024 * 1024


class ByteCache(Generic[K, V]):
    """At most ``budget`` bytes of values; a value over ``max_entry`` bytes is
    never kept (one big state must not evict every small one, nor pin its
    size in memory). Safe to use from worker threads and the event loop."""

    def __init__(self, budget: int = DEFAULT_BUDGET, *, max_entry: int | None = None) -> None:
        self.budget = budget
        self.max_entry = budget // 8 if max_entry is None else max_entry
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def held(self) -> int:
        """Bytes held now."""
        return self._held

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        if size > self.max_entry:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= old[1]
            self._items[key] = (value, size)
            self._held += size
            while self._held > self.budget and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._held -= dropped

    def discard(self, key: K) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= old[1]
