"""The attachment cache: a repeated attachment is analysed once, and the report is the same as without it."""

from __future__ import annotations

from _pe import minimal_pe
from conftest import make_message

from triage.batch.cache import LruCache
from triage.batch.collect import MessageCollector
from triage.engine import CachedCall, Engine
from triage.registry import default_analyzers


def _strip(doc: dict[str, object]) -> dict[str, object]:
    doc = dict(doc)
    doc.pop("timings")
    return doc


class _Spy(LruCache):
    def __init__(self) -> None:
        super().__init__()
        self.missed: list[str] = []

    def get(self, key: str) -> CachedCall | None:
        value = super().get(key)
        if value is None:
            self.missed.append(key)
        return value


def test_cached_results_are_identical_and_reused() -> None:
    cache = _Spy()
    cached = Engine(cache=cache, analyzers=(*default_analyzers(), MessageCollector()))
    plain = Engine()
    attachments = [("請求書.exe", minimal_pe(), "application/octet-stream"), ("memo.txt", b"hello " * 50, "text/plain")]
    first = make_message(subject="one", attachments=attachments)
    second = make_message(subject="two", to="other@example.jp", attachments=attachments)
    r1 = cached.scan(first)
    exe_sha = next(a.sha256 for a in r1.artifacts if a.name == "請求書.exe")
    assert exe_sha is not None and any(exe_sha in k for k in cache.missed)
    cache.missed.clear()
    r2 = cached.scan(second)
    assert cache.hits >= 2 and not any(exe_sha in k for k in cache.missed)  # the executable was not analysed again
    assert _strip(r1.to_dict()) == _strip(plain.scan(first).to_dict())
    assert _strip(r2.to_dict()) == _strip(plain.scan(second).to_dict())
    assert "ATTACHMENT_EXECUTABLE" in r2.finding_ids()


def test_lru_bound() -> None:
    cache = LruCache(max_entries=2)
    for key in "abc":
        cache.put(key, CachedCall(findings=(), meta=(), iocs=()))
    assert cache.get("a") is None and cache.get("c") is not None
