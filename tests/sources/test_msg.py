"""Outlook .msg → RFC 822: the real corpus files convert (or are recognised as non-mail items), attachments
and embedded messages survive, garbage is an error, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS

from triage.ingest.eml import parse_email
from triage.sources.msg import OLE_MAGIC, MsgError, NotMail, is_ole, msg_to_rfc822

MSG_DIR = CORPUS / "msg"
LIMIT = 100 * 1024 * 1024


def _corpus() -> list[Path]:
    return sorted(MSG_DIR.rglob("*.msg")) if MSG_DIR.is_dir() else []


@pytest.mark.skipif(not _corpus(), reason="corpus not present")
def test_every_corpus_msg_converts_or_is_not_mail() -> None:
    converted = not_mail = 0
    for path in _corpus():
        data = path.read_bytes()
        assert is_ole(data)
        try:
            raw = msg_to_rfc822(data, limit=LIMIT)
        except NotMail:
            not_mail += 1
            continue
        parsed = parse_email(raw)
        assert parsed.info is not None
        converted += 1
    assert converted >= 80 and not_mail >= 1


@pytest.mark.skipif(not _corpus(), reason="corpus not present")
def test_attachments_and_embedded_message_survive() -> None:
    path = MSG_DIR / "hughbe__MsgReader" / "HiraokaHyperTools__msgreader__msgInMsg.msg"
    if not path.exists():
        pytest.skip("fixture not in corpus")
    parsed = parse_email(msg_to_rfc822(path.read_bytes(), limit=LIMIT))
    names = [p.filename for p in parsed.parts if p.filename]
    assert "green.png" in names
    assert any(p.content_type == "message/rfc822" for p in parsed.parts)


@pytest.mark.skipif(not _corpus(), reason="corpus not present")
def test_transport_headers_are_kept() -> None:
    for path in _corpus():
        if "outlook_" in path.name and "Hamilton" in path.name:
            parsed = parse_email(msg_to_rfc822(path.read_bytes(), limit=LIMIT))
            assert parsed.info.from_ and parsed.info.received
            return
    pytest.skip("fixture not in corpus")


@pytest.mark.parametrize("data", [b"", b"garbage", OLE_MAGIC + b"\x00" * 600, OLE_MAGIC + bytes(range(256)) * 8])
def test_garbage_is_an_error(data: bytes) -> None:
    with pytest.raises(MsgError):
        msg_to_rfc822(data, limit=LIMIT)
