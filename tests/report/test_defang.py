"""IOCs: defanged in the text view, exact in JSON, de-duplicated, with the hashes of the files the attacker sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.conftest import make_message, make_zip
from triage.engine import Engine
from triage.plugins import ArtifactView, Child, PluginContext
from triage.registry import default_analyzers
from triage.report.defang import defang, defang_domain, defang_email, defang_ip, defang_url
from triage.report.json import render_json
from triage.report.text import render_text
from triage.unpack.mime import MimeUnpacker


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://example.com/a.b?x=1", "hxxp://example[.]com/a.b?x=1"),
        ("HTTPS://user@evil.example.co.jp:8443/p", "hxxps://user[@]evil[.]example[.]co[.]jp:8443/p"),
        ("ftp://203.0.113.5/x.exe", "fxp://203.0.113[.]5/x.exe"),
        ("http://[2001:db8::1]:80/", "hxxp://[2001[:]db8[:][:]1]:80/"),
        ("mailto:a@b.example", "mailto[:]a[@]b[.]example"),
        ("javascript:alert(1)", "javascript[:]alert(1)"),
        ("ws://a.example/c", "ws[:]//a[.]example/c"),
        ("evil.example.com:8080/x.y", "evil[.]example[.]com:8080/x.y"),
        ("www.example.com", "www[.]example[.]com"),
        ("http://xn--80ak6aa92e.com/", "hxxp://xn--80ak6aa92e[.]com/"),
    ],
)
def test_defang_url(url: str, shown: str) -> None:
    assert defang_url(url) == shown
    assert defang_url(shown) == shown  # defanging twice changes nothing


def test_defang_other_kinds() -> None:
    assert defang_domain("example.com") == "example[.]com"
    assert defang_domain("www.mhlw-go.jp.") == "www[.]mhlw-go[.]jp[.]"
    assert defang_ip("1.2.3.4") == "1.2.3[.]4"
    assert defang_ip("2001:db8::1") == "2001[:]db8[:][:]1"
    assert defang_ip("999.1.1") == "999[.]1[.]1"  # not an address: every dot
    assert defang_email("user.name@example.com") == "user.name[@]example[.]com"
    for value, kind in (("1.2.3.4", "ips"), ("example.com", "domains"), ("a@b.jp", "emails")):
        assert defang(defang(value, kind), kind) == defang(value, kind)
    sha = "ab" * 32
    assert defang(sha, "hashes") == sha


def test_nothing_live_is_left() -> None:
    for value in ("http://a.b/c", "https://a.b", "HTTP://A.B", "ftp://a.b"):
        shown = defang_url(value)
        assert "://" not in shown.lower().replace("hxxp://", "").replace("hxxps://", "").replace("fxp://", "")
        assert "a.b" not in shown.lower()


# -- the report -------------------------------------------------------------------------------------------------
def _phish() -> bytes:
    body = (
        "請求書をご確認ください: http://Evil.Example.com/login.php?id=1 \n"
        "再送: http://evil.example.com/login.php?id=1 \n"
        "サーバー: http://203.0.113.7/a \n"
    )
    script = b"var x = 1;\r\nWScript.Echo(x);\r\n"
    return make_message(
        body=body,
        sender="Taro <taro@Example.co.jp>",
        headers=[("Reply-To", "taro@example.co.jp")],
        attachments=[
            ("run.js", script, "text/plain"),
            ("docs.zip", make_zip([("a.txt", b"member text\n"), ("b.bin", b"\x01\x02\x03")]), "application/zip"),
        ],
    )


def test_iocs_are_deduplicated_and_exact_in_json(engine: Engine) -> None:
    report = engine.scan(_phish(), name="p.eml")
    iocs = report.iocs
    assert (
        iocs.urls.count("http://Evil.Example.com/login.php?id=1")
        + iocs.urls.count("http://evil.example.com/login.php?id=1")
        == 1
    )
    assert len([d for d in iocs.domains if d.lower() == "evil.example.com"]) == 1
    assert "203.0.113.7" in iocs.ips
    assert [e.lower() for e in iocs.emails] == ["taro@example.co.jp"]  # From and Reply-To differ only by case
    doc = json.loads(render_json(report))
    assert "203.0.113.7" in doc["iocs"]["ips"]
    assert all("[.]" not in v and "hxxp" not in v for values in doc["iocs"].values() for v in values)


def test_hashes_are_attachments_and_members_not_bodies(engine: Engine) -> None:
    report = engine.scan(_phish(), name="p.eml")
    by_name = {a.name: a for a in report.artifacts}
    body = next(a for a in report.artifacts if a.meta.get("body"))
    hashes = set(report.iocs.hashes)
    for name in ("run.js", "docs.zip", "a.txt", "b.bin"):
        assert by_name[name].sha256 in hashes, name
    assert body.sha256 not in hashes
    assert report.artifacts[0].sha256 not in hashes  # the message itself is input.sha256
    assert len(hashes) == len(report.iocs.hashes) == 4


def test_text_view_defangs_indicators(engine: Engine) -> None:
    report = engine.scan(_phish(), name="p.eml")
    text = render_text([report], engine.config.scoring, width=200)
    section = text[text.index("Indicators") :]
    assert "hxxp://evil[.]example[.]com/login.php?id=1" in section.lower()
    assert "203.0.113[.]7" in section
    assert "taro[@]" in section.lower()
    assert "http://" not in section and "evil.example.com" not in section.lower()
    zip_hash = next(a.sha256 for a in report.artifacts if a.name == "docs.zip")
    assert f"{zip_hash}  docs.zip" in section  # hashes in full, with the file they belong to


def test_text_view_caps_long_lists(engine: Engine) -> None:
    body = "\n".join(f"http://host{i}.example.com/" for i in range(30))
    report = engine.scan(make_message(body=body))
    text = render_text([report], engine.config.scoring, width=200)
    assert "10 more (see --json)" in text
    assert len(report.iocs.urls) == 30


class _DecodingUnpacker:
    """Stands in for the Office and RTF unpackers: decoded VBA source, a carved RTF object, an embedded file."""

    name = "fake-office"
    accepts = frozenset({"zip"})
    emits: frozenset[str] = frozenset()

    def setup(self, config: object) -> None:
        pass

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        yield Child(data=b"Sub AutoOpen()\r\nEnd Sub\r\n", name="Module1.bas", meta={"decoded": "vba"})
        yield Child(data=b"\x00embedded\x00", name="oleObject1.bin")
        yield Child(data=b"\x00rtf object\x00", meta={"decoded": "rtf-object"})


def test_decoded_source_is_not_hashed_carved_objects_are() -> None:
    engine = Engine(unpackers=[MimeUnpacker(), _DecodingUnpacker()], analyzers=default_analyzers())
    report = engine.scan(make_message(attachments=[("m.docm", make_zip([("x", b"y")]), "application/zip")]))
    hashes = set(report.iocs.hashes)
    assert hashlib.sha256(b"\x00embedded\x00").hexdigest() in hashes
    assert hashlib.sha256(b"\x00rtf object\x00").hexdigest() in hashes
    assert hashlib.sha256(b"Sub AutoOpen()\r\nEnd Sub\r\n").hexdigest() not in hashes
