"""parse_received: the same from / by / with / for / date as mail-parser, which it replaces for speed.

mail-parser (`receiveds_parsing`, what ingest called before) is the oracle: every header here, and a seeded stream
of random ones built from the grammar's delimiters and keywords, must give the same fields. Inputs are what
`eml._received` passes: whitespace collapsed to single spaces.
"""

from __future__ import annotations

import random

import pytest
from mailparser.utils import receiveds_parsing

from triage.ingest.received import parse_received

_FIELDS = ("from", "by", "with", "for", "date")


def _oracle(value: str) -> dict[str, str]:
    """The fields mail-parser gives, trimmed the way eml._field trims them."""
    item = receiveds_parsing([value])[0]
    out: dict[str, str] = {}
    for key in _FIELDS:
        text = str(item.get(key) or "").strip()[:1024]
        if text:
            out[key] = text
    return out


def _ours(value: str) -> dict[str, str]:
    fields = parse_received(value) or {}
    return {key: text.strip()[:1024] for key, text in fields.items() if text.strip()}


HEADERS = [
    "from mx.example.jp (mx.example.jp [192.0.2.1]) by mail.example.go.jp with ESMTPS id 1; "
    "Mon, 16 Nov 2026 10:00:02 +0900",
    "from client (unknown [198.51.100.7]) by mx.example.jp with SMTP id 2 for <a@example.jp>; "
    "Mon, 16 Nov 2026 10:00:01 +0900",
    "by 2002:a05:6a10:a1c3:b0:4c4:3a6e:2b7c with SMTP id ib3csp123; Tue, 5 Dec 2023 01:02:03 -0800 (PST)",
    "from [10.0.0.1] (helo=client.example) by mx.example with esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384 "
    "(Exim 4.96) (envelope-from <b@example.com>) id 1r9X; Mon, 04 Dec 2023 10:00:00 +0000",
    "from a.example (a.example [192.0.2.9]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)) "
    "(No client certificate requested) by b.example (Postfix) with ESMTPS id 4Sk; Mon, 4 Dec 2023 11:00:00 +0100",
    "from x by y with cipher z; Mon, 4 Dec 2023 11:00:00 +0100",
    "from x (comment (nested (deeper)) done) by y; date",
    'from x ("quoted ) ; by" z) by y; date',
    'from "quoted; from x" by y; date',
    "from [literal ; by x] by y; date",
    "from x by y for <a;b@example> ; date",
    "FROM X BY Y WITH Z FOR <A@B>; DATE",
    "from x for <a@b> from y by z; date",
    "by y from x; date",
    "from x by y id 1; for <a@b>; Mon, 4 Dec 2023 11:00:00 +0100",
    "from x by y; a; b",
    "from x by y",
    "from x by y 2023-12-04 10:00:00.123456789 +0000 UTC m=+0.5",
    "by y (2023-12-04 10:00:00.123456789 +0000 UTC m=+0.5) with x 2023-12-04 10:00:00.123456789 +0000 UTC m=+1.25",
    "from x <2023-12-04 10:00:00.123456789 +0000 UTC m=+0.5> by y",
    "from x (unclosed by y; date",
    "from x ) by y; date",
    "from x <<a>> by y; date",
    "from x <unclosed by y; date",
    'from x "unclosed by y; date',
    "from x [unclosed by y; date",
    "from x (a \\) b) by y; date",
    "from x by y\\; date",
    "; only a date",
    "",
    "id 1; date",
    "envelope-from <a@b>; date",
    "from x (envelope-from <a@b>) by y; date",
    "from wıth x by y; date",  # dotless i: a keyword to mail-parser's case-insensitive match
    "from x by y envelope-ſender z; date",
    "from \udcc3\udca9x by y; d\udcff",
    "from café.example by y; lundi",
    "with with with; date",
    "from(x)by y; date",
    "from x (c)by y; date",
    "from x by y for a@b (c)for <c@d>; date",
]


@pytest.mark.parametrize("value", HEADERS)
def test_same_fields_as_mail_parser(value: str) -> None:
    assert _ours(value) == _oracle(value)


def test_random_headers_same_fields_as_mail_parser() -> None:
    tokens = [
        *("from", "by", "with", "id", "for", "via", "envelope-from", "envelope-sender", "FROM", "With"),
        *("(", ")", '"', "[", "]", "<", ">", ";", "\\", "cipher", "CIPHER", "x", "a.b", "1", "é", "\udcc3\udca9"),
        *("2023-01-02 03:04:05.123456789 +0000 UTC m=+1.5", " ", " ", " "),
    ]
    rng = random.Random(20261126)
    for _ in range(5000):
        value = " ".join("".join(rng.choice(tokens) for _ in range(rng.randint(0, 25))).split())
        assert _ours(value) == _oracle(value), value


def test_hostile_received_values_finish() -> None:
    for value in (
        "(" * 100_000,
        "(x)from " * 20_000,
        "with " * 20_000 + "cipher",
        "(\\)" * 50_000,
        '"' + "\\" * 100_000,
        "2023-01-02 03:04:05.12345678 " * 5_000,
        "by x;" * 20_000,
        "(" * 50_000 + ")" * 50_000 + "; date",
    ):
        parse_received(value)
