"""parse_email on attacker-crafted input: it finishes, keeps its caps, records what it cut, and never raises.

No timings here (DESIGN §8): a regression to quadratic behaviour shows up as a test run that does not end.
"""

from __future__ import annotations

import random

from triage.ingest.eml import MAX_HEADER_VALUE, MAX_PARTS, MAX_TEXT, parse_email

from ._build import envelope, mime, multipart, text_part

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
