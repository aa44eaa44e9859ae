"""Gateway log lines: one JSON object per line, whatever a message puts in the values."""

from __future__ import annotations

import io
import json

from triage.gateway.logline import LogLines


def test_hostile_values_stay_on_one_bounded_line() -> None:
    stream = io.StringIO()
    log = LogLines(stream)
    log.write("message", message_id='<a@b>\n{"event": "forged"}\u202e', findings=["X"] * 500, size=10, skip=None)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "message" and record["size"] == 10 and "skip" not in record
    assert record["message_id"].startswith("<a@b>\n")  # escaped in the line, intact once decoded
    assert len(record["findings"]) == 100
    assert "\u202e" not in lines[0]


def test_long_text_is_cut() -> None:
    stream = io.StringIO()
    LogLines(stream).write("error", error="x" * 10_000)
    assert len(json.loads(stream.getvalue())["error"]) <= 300
