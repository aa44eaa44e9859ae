"""Structured log lines for the gateway: one JSON object per line on stderr (the journal, or any log shipper).

Values may come from a message (its Message-ID, the envelope sender): they are bounded, and JSON encoding escapes
every control character, so a crafted value cannot forge a log line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any

_MAX_TEXT = 300


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:100]]
    return value


class LogLines:
    """Writes `{"ts": ..., "event": ..., ...}` lines; safe to call from many threads."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 3), "event": event}
        record.update({key: _bounded(value) for key, value in fields.items() if value is not None})
        line = json.dumps(record, ensure_ascii=True, default=str)
        stream = self._stream or sys.stderr
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed log must never stop mail
