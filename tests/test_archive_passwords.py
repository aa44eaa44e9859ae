"""End to end through the engine: a zip whose password sits only in the message text opens, and says so.

The password forms come from real Japanese PPAP mail: ASCII after a full-width colon, full-width characters,
「」-quoted, on the next line, and in English. ZipCrypto archives are built with the test writer in
tests/unpack (the stdlib cannot write encrypted zips); AES ones with pyzipper.
"""

from __future__ import annotations

import io

import pytest
import pyzipper

from tests._pe import minimal_pe
from tests.conftest import make_message
from tests.unpack._zipbuild import Member, build_zip
from triage.config import load_config
from triage.engine import Engine
from triage.model import Level, NoteKind

PE = minimal_pe()


def _zipcrypto(password: str, name: str = "資料.exe", data: bytes = PE) -> bytes:
    return build_zip([Member(name=name, data=data, method=8, password=password.encode())])


def _aes(password: str, name: str = "資料.exe", data: bytes = PE) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode())
        zf.writestr(name, data)
    return buffer.getvalue()


BODIES = {
    "ascii_after_fullwidth_colon": ("パスワード：Kinen2026", "Kinen2026"),
    "fullwidth": ("パスワード：Ｋｉｎｅｎ２０２６", "Kinen2026"),
    "kagikakko": ("解凍パスワードは「pass-7731」です。", "pass-7731"),
    "next_line": ("添付ファイルのパスワードは以下の通りです。\n\n　x9Qp2mZ7\n", "x9Qp2mZ7"),
    "english": ("Please find the attached file.\nPassword: s3cr3t-Doc.\n", "s3cr3t-Doc"),
    "ascii_colon_pw": ("PW: Tokyo#2026", "Tokyo#2026"),
}


@pytest.mark.parametrize("builder", [_zipcrypto, _aes], ids=["zipcrypto", "aes"])
@pytest.mark.parametrize("case", sorted(BODIES))
def test_password_in_body_opens_the_archive(engine: Engine, builder: object, case: str) -> None:
    body, password = BODIES[case]
    archive = builder(password)  # type: ignore[operator]
    raw = make_message(
        subject="資料送付の件",
        body=f"お世話になっております。\n{body}\nよろしくお願いいたします。",
        attachments=[("資料.zip", archive, "application/zip")],
    )
    report = engine.scan(raw)
    ids = report.finding_ids()
    assert "ARCHIVE_ENCRYPTED" in ids
    assert "ARCHIVE_PASSWORD_IN_BODY" in ids
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" not in ids
    assert "ATTACHMENT_EXECUTABLE" in ids
    archive_art = next(a for a in report.artifacts if a.name == "資料.zip")
    assert archive_art.meta["password"] == password
    member = next(a for a in report.artifacts if a.name == "資料.exe")
    assert "pe" in member.types
    assert report.verdict.complete
    assert report.verdict.level is Level.MALICIOUS


def test_password_in_subject_opens_the_archive(engine: Engine) -> None:
    raw = make_message(
        subject="資料送付（パスワード：Ab12Cd34）",
        body="添付をご確認ください。",
        attachments=[("資料.zip", _zipcrypto("Ab12Cd34"), "application/zip")],
    )
    report = engine.scan(raw)
    assert "ARCHIVE_PASSWORD_IN_BODY" in report.finding_ids()


def test_no_password_anywhere_is_incomplete_and_never_clean(engine: Engine) -> None:
    raw = make_message(
        body="パスワードは別途お送りします。",
        attachments=[("資料.zip", _zipcrypto("NotInTheMail99"), "application/zip")],
    )
    report = engine.scan(raw)
    ids = report.finding_ids()
    assert {"ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"} <= set(ids)
    assert "ARCHIVE_PASSWORD_IN_BODY" not in ids
    assert NoteKind.ENCRYPTED_NO_PASSWORD in {n.kind for n in report.notes}
    assert not report.verdict.complete
    assert report.verdict.level is not Level.CLEAN
    # The member's name is still checked though its content is not readable.
    member = next(a for a in report.artifacts if a.name == "資料.exe")
    assert member.sha256 is None
    assert any(f.id == "ATTACHMENT_EXECUTABLE" and f.artifact == member.id for f in report.findings)


def test_cli_password_opens_without_body_finding() -> None:
    from triage.config import load_config

    engine = Engine(load_config(passwords=("GivenByAnalyst1",)))
    raw = make_message(body="別途連絡します。", attachments=[("a.zip", _aes("GivenByAnalyst1"), "application/zip")])
    report = engine.scan(raw)
    ids = report.finding_ids()
    assert "ARCHIVE_ENCRYPTED" in ids and "ARCHIVE_PASSWORD_IN_BODY" not in ids
    assert report.verdict.complete


def test_common_list_password_opens(engine: Engine) -> None:
    raw = make_message(body="see attached", attachments=[("s.zip", _zipcrypto("infected"), "application/zip")])
    report = engine.scan(raw)
    zip_art = next(a for a in report.artifacts if a.name == "s.zip")
    assert zip_art.meta.get("password_source") == "list"
    assert "ARCHIVE_PASSWORD_IN_BODY" not in report.finding_ids()


def test_cp932_member_name_without_utf8_flag(engine: Engine) -> None:
    archive = build_zip([Member(name="歓迎会.exe".encode("cp932"), data=PE, method=8, utf8=False)])
    report = engine.scan(make_message(attachments=[("歓迎会.zip", archive, "application/zip")]))
    assert "歓迎会.exe" in [a.name for a in report.artifacts]


def test_password_guessing_time_is_shared_by_every_container_of_a_scan() -> None:
    # Eight 7z archives whose passwords are nowhere: 7-Zip's key derivation makes each guess cost, so without a
    # scan-wide budget such a message holds a worker until the deadline. With 0.3 s, the first archives spend it
    # and the rest are reported unopened with the reason, quickly; none is called clean.
    from samplekit.archives import sevenzip

    archives = [(f"資料{i}.7z", sevenzip(password=f"unknown-{i}-Zq9"), "application/x-7z-compressed") for i in range(8)]
    engine = Engine(load_config(overrides={"passwords": {"max_seconds": 0.3}}))
    report = engine.scan(make_message(body="資料を送付します。", attachments=archives))
    assert report.verdict.level != Level.CLEAN and not report.verdict.complete
    notes = [n for n in report.notes if n.kind == NoteKind.ENCRYPTED_NO_PASSWORD]
    assert len(notes) == 8
    spent = [n for n in notes if "password-guessing time (0.3 s) is spent" in n.detail]
    assert spent, [n.detail for n in notes]
    assert any("(0 tried)" in n.detail for n in spent)  # the later archives got no guesses at all
