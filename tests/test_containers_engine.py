"""End to end through the engine: 7z with the password in the Japanese body, LZH and tar.xz carrying an exe, an
ISO .img with a shortcut and a hidden DLL, and the corpus's RAR malspam: each container opens, its members get
the whole pipeline, and the verdict is complete (no "no unpacker" note any more)."""

from __future__ import annotations

import email
import email.policy
import zipfile

import pytest
from samplekit.archives import iso_img, lzh_stored, sevenzip, tar_xz

from tests.conftest import CORPUS, make_message
from triage.engine import Engine
from triage.model import Level, NoteKind, Report

QUARANTINE = CORPUS / "quarantine-infected.zip"


def _member(report: Report, name: str) -> str:
    return next(a.id for a in report.artifacts if a.name == name)


def _fired_on(report: Report, finding: str, artifact: str) -> bool:
    return any(f.id == finding and f.artifact == artifact for f in report.findings)


def test_7z_password_in_japanese_body_opens_and_the_exe_is_found(engine: Engine) -> None:
    raw = make_message(
        subject="見積書送付の件",
        body="お世話になっております。\n見積書を送付します。\n解凍パスワードは「mitsumori-2026」です。\n",
        attachments=[
            ("見積書.7z", sevenzip(password="mitsumori-2026", encrypt_names=True), "application/x-7z-compressed")
        ],
    )
    report = engine.scan(raw)
    ids = report.finding_ids()
    assert {"ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY"} <= set(ids)
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" not in ids
    archive = next(a for a in report.artifacts if a.name == "見積書.7z")
    assert archive.types == ("7z",) and archive.meta["password"] == "mitsumori-2026"
    assert archive.meta["header_encrypted"] is True
    assert _fired_on(report, "ATTACHMENT_EXECUTABLE", _member(report, "請求書.exe"))
    assert report.verdict.complete
    assert report.verdict.level is Level.MALICIOUS


def test_7z_without_its_password_is_incomplete_never_clean(engine: Engine) -> None:
    raw = make_message(attachments=[("資料.7z", sevenzip(password="not-in-the-mail"), "application/octet-stream")])
    report = engine.scan(raw)
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" in report.finding_ids()
    assert not report.verdict.complete and report.verdict.level is not Level.CLEAN
    # the member's name is still judged: an .exe that could not be read
    assert _fired_on(report, "ATTACHMENT_EXECUTABLE", _member(report, "請求書.exe"))


def test_lzh_with_an_exe(engine: Engine) -> None:
    report = engine.scan(make_message(attachments=[("見積.lzh", lzh_stored(), "application/octet-stream")]))
    assert next(a for a in report.artifacts if a.name == "見積.lzh").types == ("lzh",)
    member = next(a for a in report.artifacts if a.name == "見積書.exe")
    assert "pe-exe" in member.types
    assert _fired_on(report, "ATTACHMENT_EXECUTABLE", member.id)
    assert report.verdict.complete


def test_tar_xz_is_two_steps_to_the_exe(engine: Engine) -> None:
    report = engine.scan(make_message(attachments=[("報告.tar.xz", tar_xz(), "application/x-xz")]))
    names = {a.name: a for a in report.artifacts}
    assert names["報告.tar"].types == ("tar",)
    assert _fired_on(report, "ATTACHMENT_EXECUTABLE", names["report/年次報告.exe"].id)
    assert report.verdict.complete


def test_iso_img_with_a_shortcut_and_a_hidden_dll(engine: Engine) -> None:
    report = engine.scan(make_message(attachments=[("請求書.img", iso_img(), "application/octet-stream")]))
    image = next(a for a in report.artifacts if a.name == "請求書.img")
    assert image.types == ("iso",) and image.meta["namespace"] == "udf"
    shortcut = next(a for a in report.artifacts if a.name == "請求書.lnk")
    dll = next(a for a in report.artifacts if a.name == "payload.dll")
    assert "lnk" in shortcut.types and _fired_on(report, "ATTACHMENT_EXECUTABLE", shortcut.id)
    assert dll.meta["hidden"] is True and _fired_on(report, "ATTACHMENT_EXECUTABLE", dll.id)
    assert report.verdict.complete
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
@pytest.mark.parametrize(
    "path_in_zip",
    [
        "mailing-lists/driverdev-devel-malspam/013013-60811b169795.eml",
        "mailing-lists/driverdev-devel-malspam/010384-ccde82de9cb1.eml",
        "phishing_pot/sample-1266.eml",
    ],
)
def test_corpus_rar_and_iso_malspam_reach_the_executable(engine: Engine, path_in_zip: str) -> None:
    with zipfile.ZipFile(QUARANTINE) as quarantine:
        raw = quarantine.read(path_in_zip, pwd=b"infected")  # in memory only: real malware
    report = engine.scan(raw)
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
    assert not [n for n in report.notes if "no unpacker" in n.detail]
    executables = [a for a in report.artifacts if "pe" in a.types]
    assert executables and all(_fired_on(report, "ATTACHMENT_EXECUTABLE", a.id) for a in executables)


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
def test_corpus_ace_stays_an_unparsable_note(engine: Engine) -> None:
    with zipfile.ZipFile(QUARANTINE) as quarantine:
        raw = quarantine.read("mailing-lists/driverdev-devel-malspam/010760-bf6f816433b7.eml", pwd=b"infected")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert any((p.get_filename() or "").endswith(".ace") for p in message.walk())
    report = engine.scan(raw)
    assert any(n.kind is NoteKind.UNPARSABLE and "ace" in n.detail for n in report.notes)
    assert not report.verdict.complete
