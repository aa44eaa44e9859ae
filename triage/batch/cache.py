"""The attachment cache of one sweep worker: artifact-analyzer results by content, least recently used out.

Real exports repeat the same attachment (a newsletter's PDF, a campaign's zip) many times; with this cache the
payload analyzers (PE, Office, PDF, YARA) run once per distinct attachment per worker. Each worker process
keeps its own cache: sharing one across processes would cost more in IPC than it saves.
"""

from __future__ import annotations

from collections import OrderedDict

from triage.engine import CachedCall

DEFAULT_ENTRIES = 20_000


class LruCache:
    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, CachedCall] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CachedCall | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: str, value: CachedCall) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
