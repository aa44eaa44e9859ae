"""Crafted EncryptionInfo streams (security review, issue 8): a DTD never reaches msoffcrypto's minidom parser, and
an encrypted document msoffcrypto cannot read is reported, never called clean."""

from __future__ import annotations

import struct

import pytest
from samplekit.cfb import build_cfb

from tests.conftest import make_message
from triage.engine import Engine
from triage.model import NoteKind
from triage.unpack.office import declares_dtd

_ENTITIES = b"".join(b'<!ENTITY e%d "%s">' % (i + 1, b"&e%d;" % i * 10) for i in range(8))
LAUGHS = b'<?xml version="1.0"?><!DOCTYPE encryption [<!ENTITY e0 "AAAAAAAAAAAAAAAA">' + _ENTITIES + b"]><x>&e8;</x>"


def _encrypted_doc(info_xml: bytes) -> bytes:
    info = struct.pack("<HHI", 4, 4, 0x40) + info_xml  # agile: version 4.4, then the flags
    return build_cfb({"EncryptionInfo": info, "EncryptedPackage": struct.pack("<Q", 4096) + bytes(4096)})


def _scan(engine: Engine, doc: bytes) -> tuple[set[str], list[str], bool]:
    report = engine.scan(make_message(attachments=[("見積書.docx", doc, "application/octet-stream")]))
    return (
        set(report.finding_ids()),
        [n.detail for n in report.notes if n.kind is NoteKind.UNPARSABLE],
        (report.verdict.complete),
    )


def test_entity_expansion_in_encryption_info_is_refused_unparsed(engine: Engine) -> None:
    findings, notes, complete = _scan(engine, _encrypted_doc(LAUGHS))
    assert "ARCHIVE_ENCRYPTED" in findings
    assert any("DTD" in detail for detail in notes), notes
    assert complete is False


def test_unreadable_encryption_info_is_not_called_clean(engine: Engine) -> None:
    findings, notes, complete = _scan(engine, _encrypted_doc(b"<encryption><unclosed"))
    assert "ARCHIVE_ENCRYPTED" in findings
    assert notes and complete is False


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (LAUGHS, True),
        (LAUGHS.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>', 1).encode("utf-16"), True),
        (b'<?xml version="1.0"?><encryption xmlns="http://schemas.microsoft.com/office/2006/encryption"/>', False),
        (b"not xml at all", False),
    ],
)
def testdeclares_dtd_in_any_encoding(xml: bytes, expected: bool) -> None:
    assert declares_dtd(xml) is expected
