"""triage.strings: bounded string extraction, indicators (URLs, IPs, domains) and beacon format strings."""

from __future__ import annotations

import pytest

from triage.plugins import DeadlineExceeded
from triage.strings import (
    SkippedIp,
    beacon_formats,
    beacon_kinds,
    classify_ipv4,
    compressible_regions,
    extract_strings,
    find_indicators,
    subtract_spans,
)


def texts(data: bytes, **kwargs: object) -> list[str]:
    return [s.text for s in extract_strings(data, **kwargs)]  # type: ignore[arg-type]


# -- extraction ------------------------------------------------------------------------------------------------
def test_ascii_and_wide_strings_with_offsets() -> None:
    data = b"\x00\x01hello world\x00\xff" + "ワイド wide text".encode("utf-16-le") + b"\x00\x00" + b"abc"
    found = extract_strings(data)
    assert [(s.text, s.offset, s.wide) for s in found] == [("hello world", 2, False), (" wide text", 21, True)]


def test_min_length() -> None:
    assert texts(b"abcd\x00abcde\x00") == ["abcde"]
    assert texts(b"abcd\x00abcde\x00", min_length=3) == ["abcd", "abcde"]


def test_a_string_across_a_chunk_boundary_is_read_whole() -> None:
    at = 1024 * 1024 - 5
    data = bytes(at) + b"http://example.com/boundary" + bytes(10)
    assert texts(data) == ["http://example.com/boundary"]


def test_budgets_bytes_strings_and_length() -> None:
    data = b"\x00".join(b"string%05d" % i for i in range(1000))
    assert len(texts(data, max_strings=10)) == 10
    assert texts(data, max_bytes=25) == ["string00000", "string00001"]
    run = b"A" * (3 * 1024 * 1024)
    found = extract_strings(run, max_length=100)
    assert found and all(len(s.text) <= 100 for s in found)


def test_regions_leave_out_bytes() -> None:
    data = b"first string\x00" + b"skipped here\x00" + b"last string\x00"
    assert texts(data, regions=[(0, 13), (26, len(data))]) == ["first string", "last string"]


def test_deadline_is_checked_and_propagates() -> None:
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise DeadlineExceeded("test")

    with pytest.raises(DeadlineExceeded):
        extract_strings((b"abcdefgh" + bytes(1000)) * 5000, check=check)
    assert len(calls) == 3


def test_subtract_spans() -> None:
    assert subtract_spans([(0, 100)], [(10, 20), (50, 60)]) == [(0, 10), (20, 50), (60, 100)]
    assert subtract_spans([(0, 100)], [(0, 100)]) == []
    assert subtract_spans([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert subtract_spans([(0, 10)], [(50, 60)]) == [(0, 10)]


def test_compressible_regions_skip_random_blocks() -> None:
    import random

    block = 64 * 1024
    text = (b"readable text %d\x00" * 10000)[:block]
    rand = random.Random(3).randbytes(block)
    data = text + rand + text + text
    assert compressible_regions(data, [(0, len(data))]) == [(0, block), (2 * block, 4 * block)]
    assert compressible_regions(data, [(block, 2 * block)]) == []


# -- indicators ------------------------------------------------------------------------------------------------
def test_urls_hosts_and_ips() -> None:
    found = find_indicators(
        [
            "MZhttp://update.example.invalid/gate.php",
            "GET https://cdn.example.com/a.bin, then",
            "ftp://45.33.2.1/drop",
            "connect 8.8.8.8 port 53",
        ]
    )
    assert found.urls == (
        "http://update.example.invalid/gate.php",
        "https://cdn.example.com/a.bin",
        "ftp://45.33.2.1/drop",
    )
    assert found.domains == ("cdn.example.com",)  # .invalid is not a public suffix
    assert found.ips == ("45.33.2.1", "8.8.8.8")
    assert bool(found)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("6.0.0.0", "version-like"),
        ("1.2.3.4", "version-like"),
        ("ver 10.20.30.40", "version-like"),
        ("FileVersion 12.4.100.3", "version-like"),
        ("Version=4.0.0.0", "version-like"),
        ("01.02.03.04", "version-like"),
        ("10.1.2.3", "private"),
        ("192.168.10.20", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.10.10", "link-local"),
        ("203.0.113.9", "documentation"),
        ("224.10.0.1", "multicast"),
        ("240.10.10.10", "reserved"),
    ],
)
def test_ips_that_are_not_indicators(text: str, reason: str) -> None:
    found = find_indicators([text])
    assert found.ips == ()
    assert [s.reason for s in found.skipped] == [reason]


def test_known_versions_and_url_hosts() -> None:
    found = find_indicators(["5.8.10.13", "http://1.2.3.4/x"], versions={"5.8.10.13"})
    assert found.ips == ("1.2.3.4",)  # a URL's host is an address whatever it looks like
    assert found.skipped == (SkippedIp("5.8.10.13", "version info"),)
    assert classify_ipv4("8.8.8.8") is None
    assert classify_ipv4("300.1.1.1") == SkippedIp("300.1.1.1", "not an address")


def test_bare_domains_need_a_public_suffix_lower_case_and_to_stand_alone() -> None:
    found = find_indicators(
        [
            "update.example.com",
            "c2.example.net:8080/x",
            "System.Net",
            "readme.md",
            "setup.py",
            "host.example.invalid",
            "see update2.example.org for more",
            "cdn.example.cc",
        ]
    )
    assert found.domains == ("update.example.com", "c2.example.net", "cdn.example.cc")
    assert found.urls == ()


def test_ignored_domains() -> None:
    found = find_indicators(
        ["http://schemas.microsoft.com/SMI/2005/WindowsSettings", "crl.microsoft.com"],
        ignore_domains={"microsoft.com"},
    )
    assert not found
    assert found.ignored == ("schemas.microsoft.com", "crl.microsoft.com")


def test_indicator_limit() -> None:
    found = find_indicators([f"http://h{i}.example.com/" for i in range(50)], limit=5)
    assert len(found.urls) == 5 and len(found.domains) == 5


# -- beacon formats --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Name:%s IP:%s OS:%s", ("host", "ip", "os")),
        ("hostname=%s&ip=%s&os=%s", ("host", "ip", "os")),
        ('{"user":"%s","host":"%s"}', ("user", "host")),
        ("Computer Name: %s\r\nIP Address: %s", ("host", "ip")),
        ("?id=%08x&pc=%s&ver=%d&mac=%s", ("host", "os", "mac")),
        ("host={0};ip={1};osver={2}", ("host", "ip", "os")),
        ("user=%ls&computer=%ls", ("user", "host")),
    ],
)
def test_beacon_formats(text: str, kinds: tuple[str, ...]) -> None:
    assert beacon_kinds(text) == kinds
    assert [b.kinds for b in beacon_formats([text])] == [kinds]


@pytest.mark.parametrize(
    "text",
    [
        "Name=%s Version=%s",  # a module description: only generic keys
        "%s\\%s",
        "Error: %s",
        "User: %s",
        "IP: 10.0.0.1 OS: Windows",  # values, not placeholders
        "OS:%s Version:%d",  # no host or ip
        "plain text without fields",
    ],
)
def test_not_beacon_formats(text: str) -> None:
    assert beacon_kinds(text) == ()
    assert beacon_formats([text]) == ()


def test_beacon_formats_are_distinct_and_bounded() -> None:
    many = [f"host=%s&ip=%s&n={i}" for i in range(30)]
    assert len(beacon_formats(many + many, limit=7)) == 7
    assert len(beacon_formats(["Name:%s IP:%s OS:%s"] * 3)) == 1
