"""ISO 9660 / Joliet / Rock Ridge / UDF images built with pycdlib: the namespace Windows shows, hidden files,
nested folders, budget, garbage, and the corpus's real malspam ISO."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from typing import Any

import pycdlib
import pytest
from samplekit.archives import harmless_exe, iso_img

from tests.conftest import CORPUS
from triage.errors import ConfigError
from triage.filetype import FileTyper
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.iso import IsoUnpacker

from ._fake_ctx import FakeConfig, FakeContext, view

QUARANTINE = CORPUS / "quarantine-infected.zip"


def unpack(data: bytes, ctx: FakeContext | None = None) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = IsoUnpacker()
    unpacker.setup(FakeConfig())  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "invoice.img", ("iso",)), ctx)), ctx


def build(**kinds: Any) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(**kinds)
    return iso


def write(iso: pycdlib.PyCdlib) -> bytes:
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def test_udf_image_shows_lnk_exe_and_the_hidden_dll() -> None:
    data = iso_img()
    assert FileTyper().tags(data, "invoice.img") == ("iso",)
    children, ctx = unpack(data)
    by_name = {c.name: c for c in children}
    assert set(by_name) == {"請求書.lnk", "invoice.exe", "payload.dll"}
    assert by_name["invoice.exe"].data == harmless_exe()
    assert by_name["payload.dll"].meta["hidden"] is True
    assert "hidden" not in by_name["請求書.lnk"].meta
    assert ctx.meta["namespace"] == "udf" and ctx.meta["hidden_files"] == 1
    assert ctx.notes == []


def test_plain_iso9660_names_lose_the_version_suffix() -> None:
    iso = build()
    iso.add_directory("/SUB")
    iso.add_fp(io.BytesIO(b"abc"), 3, "/SUB/README.;1")
    iso.add_fp(io.BytesIO(b"MZ"), 2, "/SETUP.EXE;1")
    iso.set_hidden(iso_path="/SETUP.EXE;1")
    children, ctx = unpack(write(iso))
    assert sorted((c.name, c.data, c.meta.get("hidden", False)) for c in children) == [
        ("SETUP.EXE", b"MZ", True),
        ("SUB/README", b"abc", False),
    ]
    assert ctx.meta["namespace"] == "iso9660"


def test_joliet_and_rock_ridge_names() -> None:
    iso = build(joliet=3)
    iso.add_fp(io.BytesIO(b"x"), 1, "/A.TXT;1", joliet_path="/日本語の名前.txt")
    children, ctx = unpack(write(iso))
    assert [c.name for c in children] == ["日本語の名前.txt"] and ctx.meta["namespace"] == "joliet"
    iso = build(rock_ridge="1.09")
    iso.add_fp(io.BytesIO(b"x"), 1, "/A.TXT;1", rr_name="Long Name.txt")
    children, ctx = unpack(write(iso))
    assert [c.name for c in children] == ["Long Name.txt"] and ctx.meta["namespace"] == "rock_ridge"


def test_member_over_the_budget_is_not_read() -> None:
    iso = build()
    iso.add_fp(io.BytesIO(b"x" * 5000), 5000, "/BIG.BIN;1")
    children, ctx = unpack(write(iso), FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_garbage_and_truncation_are_unparsable() -> None:
    data = iso_img()
    for bad in (b"\x00" * 0x8001 + b"CD001" + b"\xff" * 4000, data[: len(data) // 3]):
        children, ctx = unpack(bad)
        assert all(c.data is None for c in children) or NoteKind.UNPARSABLE in ctx.note_kinds()
        assert ctx.notes


def test_deadline_is_checked() -> None:
    with pytest.raises(DeadlineExceeded):
        unpack(iso_img(), FakeContext(deadline_after=1))


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError):
        IsoUnpacker().setup(FakeConfig(unpack={"iso": {"max_attempts": 1}}))  # type: ignore[arg-type]


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
def test_corpus_malspam_iso_yields_its_executable() -> None:
    with zipfile.ZipFile(QUARANTINE) as quarantine:
        raw = quarantine.read("phishing_pot/sample-1266.eml", pwd=b"infected")  # in memory only: real malware
    message = email.message_from_bytes(raw, policy=email.policy.default)
    payload = next(p.get_payload(decode=True) for p in message.walk() if p.get_filename() == "quotation.iso")
    assert isinstance(payload, bytes)
    children, ctx = unpack(payload)
    assert [c.name for c in children] == ["makave (2)_protected_68A4BB0.exe"]
    assert children[0].data is not None and FileTyper().tags(children[0].data, None)[0] == "pe"
    assert ctx.notes == []
