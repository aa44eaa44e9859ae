"""The sweep's path walk: formats decided by content, every message once, ids stable from run to run."""

from __future__ import annotations

import io
import mailbox
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import CORPUS, make_message

from triage.filetype import FileTyper
from triage.sources.entry import MailEntry, want_all
from triage.sources.walk import iter_mail, total_bytes

TYPER = FileTyper()


def _sniff(head: bytes, name: str) -> bool:
    return "email" in TYPER.tags(head, name)


def _mbox(n: int) -> bytes:
    out = b""
    for i in range(n):
        out += (
            b"From x@example.com Mon Nov 16 10:00:00 2026\n"
            + make_message(subject=f"mbox {i}").replace(b"\r\n", b"\n")
            + b"\n"
        )
    return out


def _msg_file() -> Path | None:
    path = CORPUS / "msg" / "hughbe__MsgReader" / "HiraokaHyperTools__msgreader__test2.msg"
    return path if path.exists() else None


def _export(root: Path) -> int:
    """A directory the way exports look; returns how many messages it holds."""
    (root / "loose").mkdir(parents=True)
    (root / "loose" / "a.eml").write_bytes(make_message(subject="eml"))
    (root / "loose" / "no_extension").write_bytes(make_message(subject="sniffed"))
    (root / "loose" / "saved-from-webmail.msg").write_bytes(make_message(subject="rfc822 saved as .msg"))
    (root / "loose" / "notes.txt").write_text("not mail\n")
    (root / "inbox.mbox").write_bytes(_mbox(3))
    (root / "users" / "sato").mkdir(parents=True)
    box = mailbox.Maildir(str(root / "users" / "sato" / "Maildir"), create=True)
    box.add(make_message(subject="maildir"))
    box.add_folder("Sent").add(make_message(subject="maildir sent"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("export/one.eml", make_message(subject="zipped eml"))
        zf.writestr("export/box", _mbox(2))
        zf.writestr("export/readme.txt", "hello")
    (root / "export.zip").write_bytes(buffer.getvalue())
    count = 3 + 3 + 2 + 1 + 2
    msg = _msg_file()
    if msg is not None:
        shutil.copy(msg, root / "loose" / "outlook.msg")
        count += 1
    return count


def _entries(root: Path) -> list[MailEntry]:
    return list(iter_mail([root], limit=1 << 20, want=want_all, looks_like_email=_sniff))


def test_every_message_once_with_stable_ids(tmp_path: Path) -> None:
    expected = _export(tmp_path / "export")
    first = _entries(tmp_path / "export")
    assert all(e.kind in ("rfc822", "msg") for e in first), [e.error for e in first if e.kind == "error"]
    ids = [e.source_id for e in first]
    assert len(ids) == expected == len(set(ids))
    assert [e.source_id for e in _entries(tmp_path / "export")] == ids
    kinds = {e.source_id.split(":", 1)[0] for e in first}
    assert kinds == {"file", "mbox", "maildir", "zip"}
    saved = next(e for e in first if e.source_id.endswith("saved-from-webmail.msg"))
    assert saved.kind == "rfc822"  # RFC 822 text saved under a .msg name is read as what it is
    if _msg_file() is not None:
        assert next(e for e in first if e.source_id.endswith("outlook.msg")).kind == "msg"
    assert any("!export/box@" in i for i in ids)
    assert total_bytes([tmp_path / "export"]) > 0


def test_explicit_unknown_file_is_an_error_not_silence(tmp_path: Path) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x00\x01binary")
    entries = list(iter_mail([odd, tmp_path / "missing"], limit=1 << 20, want=want_all, looks_like_email=_sniff))
    assert [e.kind for e in entries] == ["error", "error"]


def test_garbage_pst_goes_through_pypff_and_becomes_an_error(tmp_path: Path) -> None:
    pytest.importorskip("pypff")
    bad = tmp_path / "broken.pst"
    bad.write_bytes(b"!BDN" + b"\xff" * 2000)
    entries = list(iter_mail([bad], limit=1 << 20, want=want_all, looks_like_email=_sniff))
    assert len(entries) == 1 and entries[0].kind == "error"


def test_encrypted_zip_member_and_oversize_member(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("big.eml", make_message(body="x" * 50_000))
        zf.writestr("ok.eml", make_message(subject="fine"))
    data = bytearray(buffer.getvalue())
    path = tmp_path / "e.zip"
    path.write_bytes(bytes(data))
    entries = list(iter_mail([path], limit=10_000, want=want_all, looks_like_email=_sniff))
    assert [(e.source_id.rsplit("!", 1)[1], e.kind) for e in entries] == [("big.eml", "error"), ("ok.eml", "rfc822")]


@pytest.mark.skipif(not (CORPUS / "parser-fixtures").is_dir(), reason="corpus not present")
def test_every_corpus_message_file_is_taken() -> None:
    root = CORPUS / "parser-fixtures"
    files = {str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".eml", ".msg")}
    entries = list(iter_mail([root], limit=100 << 20, want=want_all, looks_like_email=_sniff))
    assert {e.container for e in entries} >= files
    assert len({e.source_id for e in entries}) == len(entries)
