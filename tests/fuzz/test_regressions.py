"""Every crash or hang found while fuzzing, replayed through the harnesses' own entry points (`_harness.run_*`),
with its input built in code (see README.md for adding one from a saved crash file)."""

from __future__ import annotations

import pytest
from samplekit import office

from tests.fuzz import _harness
from triage.model import NoteKind
from triage.unpack.office import MAX_SPIN_COUNT


def _with_spin_count(doc: bytes, spin: int) -> bytes:
    """An agile-encrypted docx whose password key encryptor asks for `spin` rounds: the EncryptionInfo XML keeps
    its length (indentation gives way to the longer number), so the OLE container stays valid."""
    old_spin = b'spinCount="100000"'
    new_spin = f'spinCount="{spin}"'.encode()
    grow = len(new_spin) - len(old_spin)
    indent = b'hashSize="64"\n             cipherAlgorithm'
    assert doc.count(old_spin) == 1 and doc.count(indent) == 1 and 0 <= grow < 13
    return doc.replace(indent, indent.replace(b" " * 13, b" " * (13 - grow))).replace(old_spin, new_spin)


def test_huge_agile_spin_count_is_refused_before_any_derivation() -> None:
    """office: one guess at a document's own spinCount (up to 10,000,000, which msoffcrypto accepts) ran as a
    single call past every deadline check. Now it is refused, reported as encrypted with no password."""
    doc = _with_spin_count(office.encrypted_docx("pass-7731"), 9_999_999)
    ctx = _harness.run_unpacker("office", doc)
    assert ctx.children == 0
    assert [f.id for f in ctx.findings] == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    (note,) = ctx.notes
    assert note.kind is NoteKind.ENCRYPTED_NO_PASSWORD
    assert f"over the {MAX_SPIN_COUNT}" in note.detail


def test_spin_count_within_the_cap_still_opens() -> None:
    """The cap must not cost the ordinary case: Office's own 100,000 rounds, the password from the message."""
    ctx = _harness.run_unpacker("office", office.encrypted_docx("pass-7731"))
    assert ctx.children == 1
    assert "ARCHIVE_PASSWORD_IN_BODY" in [f.id for f in ctx.findings]


@pytest.mark.parametrize("shift", [15, 24])
def test_rar5_header_key_derivation_is_bounded_before_any_guess(shift: int) -> None:
    """rar: a header-encrypted RAR5 archive chooses its own PBKDF2 cost; at 2^24 rounds one guess took seconds in
    a call no deadline check reached. Over the limit it is reported unopened without a guess; 2^15 (WinRAR's) is
    still tried with every candidate."""
    ctx = _harness.run_unpacker("rar", _harness.rar5_header_encrypted(shift))
    assert [f.id for f in ctx.findings] == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    (note,) = ctx.notes
    assert note.kind is NoteKind.ENCRYPTED_NO_PASSWORD
    tried = 0 if shift > 20 else len(_harness.PASSWORDS)
    assert f"({tried} tried)" in note.detail
    assert ("2^24 rounds" in note.detail) is (shift == 24)
