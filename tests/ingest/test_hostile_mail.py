"""parse_email on attacker-crafted input: it finishes, keeps its caps, records what it cut, and never raises.

No timings here (DESIGN §8): a regression to quadratic behaviour shows up as a test run that does not end.
"""

from __future__ import annotations

import base64
import random
import time

import pytest

from triage.config import load_config
from triage.engine import Engine
from triage.ingest.eml import MAX_HEADER_VALUE, MAX_PARTS, MAX_TEXT, ParsedEmail, parse_email
from triage.model import NoteKind

from ._build import attachment, envelope, mime, multipart, text_part

MiB = 1024 * 1024


def test_ten_thousand_parts_are_capped() -> None:
    parts = [mime([("Content-Type", f'application/octet-stream; name="a{i}.bin"')], b"x") for i in range(10_000)]
    parsed = parse_email(multipart(parts, headers=envelope()))
    assert len(parsed.parts) == MAX_PARTS
    assert any("too many parts" in d for d in parsed.defects)
    assert parsed.parts[-1].filename == f"a{MAX_PARTS - 1}.bin"


def test_one_megabyte_header_line() -> None:
    raw = mime(
        [("Subject", "a" * MiB), ("From", "<" + "x" * MiB + "@example.com>"), ("Content-Type", "text/plain")], b"body"
    )
    parsed = parse_email(raw)
    assert parsed.info.subject == "a" * MAX_HEADER_VALUE
    assert all(len(value) <= MAX_HEADER_VALUE for _, value in parsed.headers)
    assert parsed.text == "body"


def test_megabyte_of_semicolons_in_parameter_headers() -> None:
    # the stdlib parameter splitter is quadratic in quoted semicolons; without the trim this never finishes
    ctype = 'multipart/mixed; boundary="B"; junk="' + ";" * MiB + '"'
    disp = 'attachment; filename="' + ";" * MiB + '"'
    inner = mime([("Content-Type", "application/octet-stream"), ("Content-Disposition", disp)], b"x")
    raw = mime([("Content-Type", ctype)], b"--B\r\n" + inner + b"\r\n--B--\r\n")
    parsed = parse_email(raw)
    assert len(parsed.parts) == 1
    assert any("HeaderTrimmedDefect" in d for d in parsed.defects)


def test_garbage_bytes_only() -> None:
    rng = random.Random(7)
    for size in (0, 1, 100, 50_000):
        parsed = parse_email(bytes(rng.randrange(256) for _ in range(size)))
        assert isinstance(parsed.text, str)
    assert parse_email(bytes(range(256)) * 1000).info.subject is None
    assert parse_email(b"\x00" * MiB).parts


def test_deep_multipart_nesting() -> None:
    depth = 3000
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    parsed = parse_email(raw + b"Content-Type: text/plain\r\n\r\nx\r\n")
    assert any("nesting" in d for d in parsed.defects)


def test_deep_message_rfc822_nesting() -> None:
    raw = b"".join(b"From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\n" for _ in range(200))
    parsed = parse_email(raw + b"Subject: inner\r\n\r\nx\r\n")
    depth = 0
    part = parsed.parts[0] if parsed.parts else None
    while part is not None and part.message is not None:
        depth += 1
        part = part.message.parts[0] if part.message.parts else None
    assert 1 <= depth <= 10  # parsed eagerly only a few levels; the unpacker takes it from there


def test_broken_boundaries() -> None:
    raw = mime(
        [*envelope(), ("Content-Type", 'multipart/mixed; boundary="never-used"')],
        b"--other\r\nContent-Type: text/plain\r\n\r\nhello\r\n--other--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.defects
    unclosed = multipart([text_part("a"), text_part("b")], headers=envelope(), close=False)
    assert parse_email(unclosed).text.startswith("a")
    no_boundary = mime([("Content-Type", "multipart/mixed")], b"just text")
    assert parse_email(no_boundary).parts


def test_invalid_charsets_and_transfer_encodings() -> None:
    parts = [
        mime([("Content-Type", 'text/plain; charset="' + "x" * 100_000 + '"')], "日本語".encode()),
        mime([("Content-Type", "text/plain; charset=zlib")], b"x\x9c\xff"),
        mime([("Content-Type", "text/plain; charset*=''%FF%FE")], b"abc"),
        mime([("Content-Type", "text/plain"), ("Content-Transfer-Encoding", "base64; x=" + "y" * 100_000)], b"!!!"),
        mime([("Content-Type", "text/plain"), ("Content-Transfer-Encoding", b"\xff\xfe")], b"abc"),
        mime([("Content-Type", b"\xff/\xfe; name=\xe4\xbd\xa0")], b"abc"),
        mime([("Content-Type", "application/x"), ("Content-Disposition", "attachment; filename*0*=bogus''%ZZ")], b"x"),
    ]
    parsed = parse_email(multipart(parts, headers=envelope()))
    assert len(parsed.parts) == len(parts)
    assert "日本語" in parsed.text


def test_body_text_is_capped() -> None:
    big = mime([("Content-Type", "text/plain; charset=utf-8")], "あ".encode() * (2 * MiB))
    parsed = parse_email(multipart([big, big], headers=envelope()))
    assert len(parsed.text) <= MAX_TEXT


def test_huge_html_of_unclosed_tags() -> None:
    raw = mime([("Content-Type", "text/html")], b"<a" * 500_000)
    assert parse_email(raw).html_text == ""


def test_parse_stops_at_the_deadline() -> None:
    # the stdlib feedparser costs microseconds a line: 100 MB of empty lines would take minutes, so the parse is
    # fed in slices and stops at the deadline with what it read (the headers come first and are kept)
    raw = mime([*envelope(), ("Content-Type", "text/plain")], b"hello\n" + b"\n" * (8 * MiB))
    parsed = parse_email(raw, deadline=time.monotonic())
    assert parsed.cut_short
    assert parsed.info.subject is not None
    assert any("parsing stopped at the deadline" in d for d in parsed.defects)
    whole = parse_email(raw[: 64 * 1024], deadline=time.monotonic() + 600)
    assert not whole.cut_short and whole.text.startswith("hello")


def test_engine_notes_a_parse_cut_at_the_deadline() -> None:
    config = load_config(overrides={"limits": {"max_seconds": 0.01}})
    raw = mime([*envelope(), ("Content-Type", "text/plain")], b"hello\n" + b"\n" * (8 * MiB))
    report = Engine(config).scan(raw)
    assert not report.verdict.complete
    assert any(n.kind is NoteKind.TIMEOUT and n.component == "ingest" for n in report.notes)


def _shape(parsed: ParsedEmail) -> tuple[object, ...]:
    parts = tuple(
        (p.path, p.content_type, p.filename, p.payload, p.is_body, p.message and _shape(p.message))
        for p in parsed.parts
    )
    return parsed.headers, parsed.text, parsed.html, parsed.defects, parts


def test_base64_runs_set_aside_parse_exactly_as_without(monkeypatch: pytest.MonkeyPatch) -> None:
    # large messages have long base64 runs replaced by a marker line while the feedparser runs (15 s -> 3 s for a
    # 70 MiB attachment); every payload must come back byte for byte, whatever ends the run
    rng = random.Random(3)
    blob = rng.randbytes(3000)
    b64 = base64.encodebytes(blob)
    looks_b64 = b"".join(base64.b64encode(rng.randbytes(57)) + b"\n" for _ in range(60))  # but sent as 7bit
    inner = multipart([attachment(blob, "attachment; filename=in.bin")], headers=envelope(), boundary="IN")
    deep = inner
    for _ in range(8):  # past the levels parsed eagerly: the deepest ones are regenerated by the generator
        deep = mime([*envelope(), ("Content-Type", "message/rfc822")], deep)
    messages = [
        multipart([text_part("本文"), attachment(blob, "attachment; filename=a.bin")], headers=envelope()),
        multipart([attachment(blob, "attachment; filename=a.bin"), text_part("after")], headers=envelope()),
        multipart([attachment(blob, "attachment; filename=a.bin")], headers=envelope())
        .replace(b"\r\n", b"\n")
        .replace(b"\n", b"\r\n"),
        mime([*envelope(), ("Content-Type", "application/pdf"), ("Content-Transfer-Encoding", "base64")], b64),
        mime([*envelope(), ("Content-Type", "application/pdf"), ("Content-Transfer-Encoding", "base64")], b64[:-1]),
        multipart([mime([("Content-Type", "text/plain")], looks_b64)], headers=envelope()),
        multipart([text_part("x"), mime([("Content-Type", "message/rfc822")], inner)], headers=envelope()),
        multipart([mime([("Content-Type", "message/rfc822")], deep)], headers=envelope()),
        multipart([mime([("Content-Type", "message/rfc822")], deep)], headers=envelope())
        .replace(b"\r\n", b"\n")
        .replace(b"\n", b"\r\n"),
        multipart([attachment(blob, "attachment; filename=a.bin")], headers=envelope(), close=False),
        mime([*envelope(), ("Content-Type", "text/plain")], b"\x00triage-aside-0\x00\n" + b64),  # a planted marker
    ]
    from triage.ingest import eml

    monkeypatch.setattr(eml, "_ASIDE_RUN", 1024)
    for raw in messages:
        monkeypatch.setattr(eml, "_ASIDE_ABOVE", 1 << 40)
        plain = parse_email(raw)
        monkeypatch.setattr(eml, "_ASIDE_ABOVE", 0)
        assert bool(eml._set_aside(raw)[1]) is (b"triage-aside" not in raw)  # a planted marker: nothing set aside
        assert _shape(parse_email(raw)) == _shape(plain)


def test_attached_original_parse_stops_at_the_deadline_too() -> None:
    original = mime([*envelope(subject="original"), ("Content-Type", "text/plain")], b"x\n" + b"\n" * (4 * MiB))
    raw = multipart(
        [text_part("転送します"), attachment(original, 'attachment; filename="original.eml"', "message/rfc822")],
        headers=envelope(subject="Fwd: original"),
    )
    parsed = parse_email(raw, deadline=time.monotonic())
    assert parsed.original is not None and parsed.original.parsed.cut_short
    assert parsed.original.parsed.info.subject == "original"
