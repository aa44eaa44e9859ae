"""OfficeUnpacker: decrypted documents, embedded objects and decoded macros as children; and the issue's
done-when test: an encrypted .docm inside an AES zip, both opened with passwords from a Japanese body."""

from __future__ import annotations

import io
from typing import Any

import pytest
import pyzipper
from _pe import minimal_pe
from samplekit import office as so

from tests.conftest import CORPUS, make_message
from tests.unpack._fake_ctx import FakeConfig, FakeContext, pw, view
from triage.engine import Engine
from triage.filetype import FileTyper
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.office import OfficeUnpacker, executable_reason, may_be_encrypted

OLETOOLS = CORPUS / "office" / "oletools-test-data"


@pytest.fixture(scope="module")
def unpacker() -> OfficeUnpacker:
    u = OfficeUnpacker()
    u.setup(FakeConfig())  # type: ignore[arg-type]
    return u


def unpack(
    unpacker: OfficeUnpacker, data: bytes, name: str, ctx: FakeContext | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    types = FileTyper().tags(data, name)
    return list(unpacker.unpack(view(data, name, types), ctx)), ctx


@pytest.fixture(scope="module")
def encrypted_docm() -> bytes:
    return so.encrypted_docx("Doc2026", so.macro_docm())


# -- encrypted documents -------------------------------------------------------------------------------------------
def test_encrypted_docx_opens_with_the_body_password(unpacker: OfficeUnpacker, encrypted_docm: bytes) -> None:
    ctx = FakeContext(candidates=[pw("wrong1"), pw("Doc2026")])
    children, ctx = unpack(unpacker, encrypted_docm, "報告書.docm", ctx)
    (child,) = children
    assert child.data is not None and child.data.startswith(b"PK")
    assert child.name == "報告書.docm" and child.meta["decrypted"] is True
    assert "ARCHIVE_ENCRYPTED" in ctx.ids()
    assert ctx.evidence("ARCHIVE_PASSWORD_IN_BODY") == ('document opened with "Doc2026" found in the body',)
    assert ctx.meta["password"] == "Doc2026" and ctx.meta["password_source"] == "body"
    assert ctx.meta["encrypted"] is True and ctx.meta["encryption"] == "ECMA-376 agile"


def test_encrypted_docx_without_password_is_never_clean(unpacker: OfficeUnpacker, encrypted_docm: bytes) -> None:
    ctx = FakeContext(candidates=[pw("nope")])
    children, ctx = unpack(unpacker, encrypted_docm, "x.docx", ctx)
    assert children == []
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    assert ctx.note_kinds() == [NoteKind.ENCRYPTED_NO_PASSWORD]
    assert ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")[1] == "2 password candidate(s) tried"  # nope + default


def test_encrypted_package_larger_than_the_budget_is_not_decrypted(
    unpacker: OfficeUnpacker, encrypted_docm: bytes
) -> None:
    ctx = FakeContext(candidates=[pw("Doc2026")], max_child_size=1000)
    children, ctx = unpack(unpacker, encrypted_docm, "x.docx", ctx)
    assert children == []
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED"]
    assert ctx.candidate_calls == 0  # no guess spent on what would not be read


def test_password_guessing_has_its_own_time_budget(encrypted_docm: bytes) -> None:
    u = OfficeUnpacker()
    u.setup(FakeConfig(unpack={"office": {"decrypt_seconds": 1e-9}}))  # type: ignore[arg-type]
    children, ctx = unpack(u, encrypted_docm, "x.docx", FakeContext(candidates=[pw("a"), pw("b"), pw("Doc2026")]))
    assert children == []
    evidence = ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")
    assert any(e.startswith("gave up guessing after") for e in evidence)
    assert ctx.note_kinds() == [NoteKind.ENCRYPTED_NO_PASSWORD]


def test_velvet_sweatshop_default_is_not_password_in_body(unpacker: OfficeUnpacker) -> None:
    path = OLETOOLS / "encrypted" / "autostart-encrypt-standardpassword.xls"
    if not path.exists():
        pytest.skip("oletools encrypted samples not present")
    children, ctx = unpack(unpacker, path.read_bytes(), path.name)
    (child,) = children
    assert child.data is not None and FileTyper().tags(child.data, path.name) == ("ole", "xls")
    assert ctx.meta["password"] == "VelvetSweatshop" and ctx.meta["password_source"] == "default"
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED"]


def test_plain_documents_do_not_look_encrypted(encrypted_docm: bytes) -> None:
    assert not may_be_encrypted(so.macro_doc(), ("ole", "doc"))
    assert not may_be_encrypted(so.macro_xls(), ("ole", "xls"))
    assert may_be_encrypted(encrypted_docm, ("ole", "ooxml-encrypted"))


@pytest.mark.parametrize("name", ["encrypted.doc", "encrypted.xls", "encrypted.ppt", "encrypted.docx"])
def test_real_encrypted_documents_without_password(unpacker: OfficeUnpacker, name: str) -> None:
    path = OLETOOLS / "encrypted" / name
    if not path.exists():
        pytest.skip("oletools encrypted samples not present")
    children, ctx = unpack(unpacker, path.read_bytes(), name, FakeContext(candidates=[pw("guess")]))
    assert children == []
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]


# -- embedded objects ------------------------------------------------------------------------------------------------
def test_ole_package_in_docx_comes_out_and_is_flagged(unpacker: OfficeUnpacker) -> None:
    pe = minimal_pe()
    children, ctx = unpack(unpacker, so.package_docx(pe, "請求書.exe"), "invoice.docx")
    (embedding,) = children
    assert embedding.name == "word/embeddings/oleObject1.bin" and embedding.meta["embedded"] == "ooxml-part"
    assert embedding.data is not None
    assert ctx.ids() == []  # the executable is flagged where the package is opened: on oleObject1.bin
    inner, ctx2 = unpack(unpacker, embedding.data, "oleObject1.bin")
    (payload,) = inner
    assert payload.data == pe and payload.name == "請求書.exe"
    assert payload.meta["embedded"] == "ole-package"
    evidence = ctx2.evidence("DOC_EMBEDDED_EXECUTABLE")
    assert evidence[0] == f'OLE Package "請求書.exe" ({len(pe)} bytes)'
    assert evidence[1] == "content: MZ executable header"


def test_harmless_package_is_extracted_without_finding(unpacker: OfficeUnpacker) -> None:
    obj = so.ole_package("memo.txt", "会議は10時からです。".encode())
    children, ctx = unpack(unpacker, obj, "oleObject1.bin")
    assert [c.name for c in children] == ["memo.txt"]
    assert ctx.ids() == []


def test_embedded_document_in_ole_wrapper_comes_out(unpacker: OfficeUnpacker) -> None:
    from samplekit.cfb import build_cfb

    inner = so.macro_docm()
    children, ctx = unpack(unpacker, build_cfb({"Package": inner, "\x01CompObj": b"\x01\x00"}), "oleObject2.bin")
    assert [(c.name, c.data) for c in children] == [("Package", inner)]
    assert ctx.ids() == []


def test_executable_by_name_only() -> None:
    assert executable_reason("C:\\Temp\\run.JS", b"var a") == 'name: ".js"'
    assert executable_reason("photo.jpg", b"\xff\xd8") is None
    assert executable_reason(None, b"MZ\x90\x00") == "content: MZ executable header"


def test_real_embedded_executable_in_doc(unpacker: OfficeUnpacker) -> None:
    path = OLETOOLS / "oleobj" / "sample_with_calc_embedded.doc"
    if not path.exists():
        pytest.skip("oletools oleobj samples not present")
    children, ctx = unpack(unpacker, path.read_bytes(), path.name)
    assert any(c.meta.get("embedded") == "ole-package" and c.data and c.data[:2] == b"MZ" for c in children)
    assert "DOC_EMBEDDED_EXECUTABLE" in ctx.ids()


def test_real_ooxml_embeddings(unpacker: OfficeUnpacker) -> None:
    path = OLETOOLS / "oleobj" / "embedded-simple-2007.docx"
    if not path.exists():
        pytest.skip("oletools oleobj samples not present")
    children, _ = unpack(unpacker, path.read_bytes(), path.name)
    assert children and all("/embeddings/" in (c.name or "") for c in children)


# -- macros ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("build", "name", "module"), [(so.macro_doc, "a.doc", "ThisDocument.vba"),
                                                        (so.macro_xls, "a.xls", "ThisWorkbook.vba"),
                                                        (so.macro_docm, "a.docm", "ThisDocument.vba")])  # fmt: skip
def test_vba_source_is_a_text_child(unpacker: OfficeUnpacker, build: Any, name: str, module: str) -> None:
    children, ctx = unpack(unpacker, build(), name)
    (source,) = [c for c in children if c.meta.get("decoded") == "vba"]
    assert source.name == module
    assert source.data is not None and b'Set sh = CreateObject("WScript.Shell")' in source.data
    assert FileTyper().tags(source.data, source.name) == ("text",)
    assert ctx.notes == []


def test_vbaproject_bin_itself_is_not_yielded(unpacker: OfficeUnpacker) -> None:
    children, _ = unpack(unpacker, so.macro_docm(), "a.docm")
    assert [c.name for c in children] == ["ThisDocument.vba"]


def test_xlm_macros_are_a_text_child(unpacker: OfficeUnpacker) -> None:
    path = OLETOOLS / "excel4-macros" / "excel4_sample_macro.xls"
    if not path.exists():
        pytest.skip("oletools excel4 samples not present")
    children, _ = unpack(unpacker, path.read_bytes(), path.name)
    (xlm,) = [c for c in children if c.meta.get("decoded") == "xlm"]
    assert xlm.data is not None and b"Auto_Open" in xlm.data


def test_smuggled_member_in_ooxml_comes_out(unpacker: OfficeUnpacker) -> None:
    data = so.docx(extra={"word/update.exe": minimal_pe(), "word/media/image1.png": b"\x89PNG\r\n\x1a\n"})
    children, ctx = unpack(unpacker, data, "x.docx")
    assert [c.name for c in children] == ["word/update.exe"]
    assert ctx.evidence("DOC_EMBEDDED_EXECUTABLE") == ("part word/update.exe", "content: MZ executable header")


# -- hostile input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "types"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 700, ("ole", "doc")),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 700, ("ole", "ooxml-encrypted")),
        (so.macro_doc()[:2000], ("ole", "doc")),
        (so.package_docx(b"x")[:700], ("zip", "ooxml", "docx")),
    ],
)
def test_hostile_documents_do_not_crash(unpacker: OfficeUnpacker, data: bytes, types: tuple[str, ...]) -> None:
    ctx = FakeContext()
    children = list(unpacker.unpack(view(data, "h.doc", types), ctx))
    assert all(isinstance(c, Child) for c in children)


def test_outlook_message_and_msi_are_not_unpacked(unpacker: OfficeUnpacker) -> None:
    for types in (("ole", "msg"), ("ole", "msi")):
        assert list(unpacker.unpack(view(so.macro_doc(), "m", types), FakeContext())) == []


def test_deadline_stops_the_unpacker(unpacker: OfficeUnpacker) -> None:
    with pytest.raises(DeadlineExceeded):
        list(unpacker.unpack(view(so.package_docx(b"x" * 10), "d.docx", ("zip", "ooxml", "docx")),
                             FakeContext(deadline_after=0)))  # fmt: skip


def test_unknown_option_is_rejected() -> None:
    from triage.errors import ConfigError

    with pytest.raises(ConfigError):
        OfficeUnpacker().setup(FakeConfig(unpack={"office": {"max_objectz": 3}}))  # type: ignore[arg-type]


# -- end to end: the done-when ---------------------------------------------------------------------------
def aes_zip(members: list[tuple[str, bytes]], password: bytes) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password)
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def test_encrypted_docm_in_aes_zip_with_passwords_in_japanese_body(engine: Engine, encrypted_docm: bytes) -> None:
    body = (
        "お世話になっております。\n会議資料を送付いたします。\n\n"
        "添付ファイルのパスワード：Zip2026\n"
        "文書を開くパスワード：Doc2026\n\nよろしくお願いいたします。\n"
    )
    archive = aes_zip([("会議資料.docm", encrypted_docm)], b"Zip2026")
    report = engine.scan(
        make_message(subject="会議資料", body=body, attachments=[("会議資料.zip", archive, "application/zip")])
    )

    by_id = {a.id: a for a in report.artifacts}
    zip_artifact = next(a for a in report.artifacts if a.name == "会議資料.zip")
    documents = [a for a in report.artifacts if a.name == "会議資料.docm"]
    encrypted = next(a for a in documents if "ooxml-encrypted" in a.types)
    decrypted = next(a for a in documents if "docx" in a.types)
    assert zip_artifact.meta["password"] == "Zip2026"
    assert encrypted.meta["password"] == "Doc2026" and encrypted.meta["password_source"] == "body"
    assert by_id[decrypted.parent or ""].id == encrypted.id

    found = {(f.id, f.artifact) for f in report.findings}
    assert ("DOC_MACRO_AUTOEXEC", decrypted.id) in found
    assert ("DOC_MACRO_SUSPICIOUS", decrypted.id) in found
    assert ("ARCHIVE_ENCRYPTED", encrypted.id) in found
    in_body = [f for f in report.findings if f.id == "ARCHIVE_PASSWORD_IN_BODY"]
    evidence = " ".join(e for f in in_body for e in f.evidence)
    assert '"Zip2026"' in evidence and '"Doc2026"' in evidence
    assert any(a.meta.get("decoded") == "vba" and a.parent == decrypted.id for a in report.artifacts)
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
    assert report.verdict.level.value == "malicious"


def test_the_document_tries_the_password_said_to_open_documents_first(
    engine: Engine, encrypted_docm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each wrong guess at an agile-encrypted document is 100,000 SHA-512 rounds: the ZIP's password, written
    # first, is not tried on the document the mail says "文書を開くパスワード" for.
    from triage.unpack import office

    tried: list[str] = []
    real = office._decrypt

    def spy(data: bytes, password: str, cap: int, failure: list[str]) -> bytes | None:
        tried.append(password)
        return real(data, password, cap, failure)

    monkeypatch.setattr(office, "_decrypt", spy)
    body = "添付ファイルのパスワード：Zip2026\n文書を開くパスワード：Doc2026\n"
    archive = aes_zip([("会議資料.docm", encrypted_docm)], b"Zip2026")
    report = engine.scan(
        make_message(subject="会議資料", body=body, attachments=[("会議資料.zip", archive, "application/zip")])
    )
    assert tried == ["Doc2026"]
    assert any(a.meta.get("password") == "Doc2026" for a in report.artifacts)


def test_a_decryption_derives_each_password_hash_once() -> None:
    import hashlib

    from triage.unpack.office import _AGILE_MEMO, _decrypt, memoized_derivation

    calls: list[str] = []

    def slow(password: str, salt: bytes, algorithm: str, rounds: int) -> Any:
        calls.append(password)
        return hashlib.sha512(salt + password.encode("utf-16-le"))

    derive = memoized_derivation(slow)
    token = _AGILE_MEMO.set({})
    try:
        first = derive("pw", b"salt", "SHA512", 100000)
        again = derive("pw", b"salt", "SHA512", 100000)
        other = derive("other", b"salt", "SHA512", 100000)
    finally:
        _AGILE_MEMO.reset(token)
    assert calls == ["pw", "other"]
    assert first is not again and first.digest() == again.digest() != other.digest()
    derive("pw", b"salt", "SHA512", 100000)  # outside a decryption: nothing is remembered
    assert calls == ["pw", "other", "pw"]

    plain = so.docx()
    encrypted = so.encrypted_docx("Doc2026", plain)
    opened = _decrypt(encrypted, "Doc2026", 10_000_000, [])
    assert opened is not None and opened.startswith(b"PK")
    assert _decrypt(encrypted, "wrong", 10_000_000, []) is None
    assert _AGILE_MEMO.get() is None
