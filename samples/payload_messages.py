"""The payload samples (15 and up): one message per payload trick, built from the harmless builders in samplekit.

`build_samples.py` calls :func:`payload_samples` and writes the messages beside the foundation samples. Each
message is a plausible Japanese business mail from a fictional outside sender; what makes it a sample is its
attachment, and every attachment comes from a `samplekit` builder whose docstring says why it is harmless.

Builders that draw random bytes (py7zr's AES salt and IV, msoffcrypto's agile-encryption salts, pycdlib's and
py7zr's timestamps) run under :func:`fixed_randomness`, so the messages are byte-for-byte reproducible.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from unittest import mock

import pyzipper
from build_samples import (
    Expected,
    Sample,
    ZipMember,
    aes_zip,
    at,
    attachment_part,
    build_zip,
    ew,
    external_trace,
    mailbox,
    message,
    names_rfc2047,
    text_part,
)
from samplekit import archives, carriers, office, pdf, pe, yara_examples

__all__ = ["Attachment", "fixed_randomness", "payload_samples"]

_FIXED_NOW = 1_795_000_000.0  # 2026-11-18: every "now" a builder asks for


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@contextlib.contextmanager
def fixed_randomness(label: str) -> Iterator[None]:
    """Random bytes from SHA-256 of `label` and a fixed clock, for the builders that would otherwise vary."""
    counter = 0

    def random_bytes(size: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < size:
            counter += 1
            out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        return out[:size]

    import msoffcrypto.method.container.ecma376_encrypted as container
    import msoffcrypto.method.ecma376_agile as agile
    import py7zr.compressor
    import py7zr.py7zr
    import pycdlib.udf

    class FixedDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> FixedDatetime:
            fixed = cls.fromtimestamp(_FIXED_NOW, tz or dt.UTC)
            return fixed if tz else fixed.replace(tzinfo=None)

    fixed_now = py7zr.py7zr.ArchiveTimestamp.from_datetime(_FIXED_NOW)
    with (
        mock.patch.object(agile, "_random_buffer", random_bytes),
        mock.patch.object(container, "datetime", FixedDatetime),
        mock.patch.object(pycdlib.udf, "random", random.Random(label)),
        mock.patch.object(py7zr.compressor, "get_random_bytes", random_bytes),
        mock.patch.object(py7zr.py7zr.ArchiveTimestamp, "from_now", staticmethod(lambda: fixed_now)),
        mock.patch.object(time, "time", lambda: _FIXED_NOW),
    ):
        yield


def _mail(
    file: str,
    *,
    subject: str,
    body: str,
    attachments: Sequence[Attachment],
    when: dt.datetime,
    sender: tuple[str, str, str, str],
    rcpt: tuple[str, str] = ("鈴木 一郎", "suzuki@corp.example.jp"),
    mailer: str | None = "Microsoft Outlook 16.0",
) -> Sample:
    """A multipart/mixed message from `sender` = (display name, address, sending host, sending IP)."""
    display, address, host, ip = sender
    seed = hashlib.sha256(file.encode()).hexdigest().upper()
    msg = message(
        trace=external_trace(host, ip, rcpt[1], when, (seed[:11], seed[11:22]), address),
        from_=mailbox(display, address),
        to=mailbox(*rcpt),
        subject=ew(subject),
        date=when,
        message_id=f"<{when:%Y%m%d%H%M%S}.{seed[:12]}@{host}>",
        boundary=f"----=_Part_{seed[:16]}",
        mailer=mailer,
        parts=[
            text_part(body, "UTF-8", "base64"),
            *(attachment_part(a.content_type, a.data, names_rfc2047(a.name)) for a in attachments),
        ],
    )
    return Sample(file, msg.render(), [Expected(a.name, a.data) for a in attachments])


_ZIP = "application/x-zip-compressed"
_OCTET = "application/octet-stream"
_DOC = "application/msword"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PDF = "application/pdf"
_PARTNER = ("営業部 山本 健", "yamamoto@partner-shoji.example.com", "mail.partner-shoji.example.com", "203.0.113.41")
_SOUMU = (
    "総務課 中村 美咲",
    "nakamura.misaki@kenkyu-kikou.example.net",
    "smtp.kenkyu-kikou.example.net",
    "198.51.100.23",
)
_KAIGI = ("事務局 高橋 誠", "jimukyoku@kaigi-center.example.org", "mx.kaigi-center.example.org", "203.0.113.88")
_GREETING = "いつもお世話になっております。\n"
_CLOSING = "\nよろしくお願いいたします。\n"


def _sig(sender: tuple[str, str, str, str]) -> str:
    return f"\n{sender[0]}\n"


def _beacon_zip() -> tuple[str, Sample]:
    exe = pe.beacon_pe()
    data = build_zip([ZipMember("会議出席報告.exe".encode("cp932"), exe, (2026, 5, 18, 17, 2, 40), password=b"Mt0519")])
    body = (
        f"関係各位\n\n{_GREETING}会議事務局の高橋です。\n\n"
        "先日の連絡会議の出席報告を送付いたします。\n"
        "個人情報を含むため、パスワード付きZIPにしております。\n\n"
        "パスワード：Mt0519\n\n"
        "内容をご確認ください。" + _CLOSING + _sig(_KAIGI)
    )
    return "pe", _mail(
        "15_beacon_exe_in_password_zip.eml",
        subject="会議出席報告",
        body=body,
        attachments=[Attachment("会議出席報告.zip", _ZIP, data)],
        when=at(2026, 5, 19, 10, 12, 5),
        sender=_KAIGI,
    )


def _packed_scr() -> tuple[str, Sample]:
    scr = pe.upx_like_pe()
    data = build_zip([ZipMember("写真.scr".encode("cp932"), scr, (2026, 6, 1, 12, 0, 0))])
    body = (
        f"皆様\n"
        f"\n"
        f"{_GREETING}先日の懇親会の写真をお送りします。\n"
        f"添付のファイルからご覧ください。{_CLOSING}{_sig(_SOUMU)}"
    )
    return "pe", _mail(
        "16_packed_screensaver.eml",
        subject="懇親会の写真",
        body=body,
        attachments=[Attachment("懇親会の写真.zip", _ZIP, data)],
        when=at(2026, 6, 2, 13, 40, 11),
        sender=_SOUMU,
    )


def _sfx() -> tuple[str, Sample]:
    inner = build_zip([ZipMember(b"report.exe", pe.beacon_pe(original_name=None), (2026, 7, 1, 9, 0, 0))])
    exe = pe.sfx_pe(inner)
    body = (
        f"ご担当者様\n\n{_GREETING}停電に伴うシステム停止の日程表を送付いたします。\n"
        f"自己解凍形式ですので、ダブルクリックで展開してください。{_CLOSING}{_sig(_PARTNER)}"
    )
    return "pe", _mail(
        "17_self_extracting_exe.eml",
        subject="計画停電に伴うシステム停止のお知らせ",
        body=body,
        attachments=[Attachment("停電日程表.exe", _OCTET, exe)],
        when=at(2026, 7, 2, 8, 31, 50),
        sender=_PARTNER,
    )


def _macro_doc() -> tuple[str, Sample]:
    doc = office.macro_doc(codepage=936)
    body = (
        f"各位\n\n{_GREETING}防災訓練の実施要領をお送りします。\n"
        f"添付の文書を開き、「コンテンツの有効化」を押してご確認ください。{_CLOSING}{_sig(_SOUMU)}"
    )
    return "office", _mail(
        "18_macro_doc_chinese_codepage.eml",
        subject="防災訓練の実施について",
        body=body,
        attachments=[Attachment("防災訓練実施要領.doc", _DOC, doc)],
        when=at(2026, 8, 24, 9, 5, 44),
        sender=_SOUMU,
    )


def _remote_template() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}次回打合せの議事次第を添付いたします。{_CLOSING}{_sig(_PARTNER)}"
    return "office", _mail(
        "19_remote_template_docx.eml",
        subject="打合せ議事次第の送付",
        body=body,
        attachments=[Attachment("議事次第.docx", _DOCX, office.remote_template_docx())],
        when=at(2026, 9, 7, 11, 20, 3),
        sender=_PARTNER,
    )


def _dde() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}見積依頼書を送付いたします。ご確認ください。{_CLOSING}{_sig(_PARTNER)}"
    return "office", _mail(
        "20_dde_docx.eml",
        subject="見積依頼書",
        body=body,
        attachments=[Attachment("見積依頼書.docx", _DOCX, office.dde_docx())],
        when=at(2026, 9, 14, 15, 48, 30),
        sender=_PARTNER,
    )


def _package() -> tuple[str, Sample]:
    doc = office.package_docx(archives.harmless_exe(), "請求書.exe")
    body = (
        f"ご担当者様\n"
        f"\n"
        f"{_GREETING}請求書を文書内に添付しております。アイコンをダブルクリックしてご覧ください。{_CLOSING}{_sig(_PARTNER)}"
    )
    return "office", _mail(
        "21_ole_package_exe_in_docx.eml",
        subject="請求書送付のご案内",
        body=body,
        attachments=[Attachment("請求書.docx", _DOCX, doc)],
        when=at(2026, 9, 28, 10, 0, 12),
        sender=_PARTNER,
    )


def _encrypted_docm_in_aes_zip() -> tuple[str, Sample]:
    with fixed_randomness("22-docm"):
        docm = office.encrypted_docx("Doc2026", office.macro_docm())
    with fixed_randomness("22-zip"):
        data = aes_zip("出席者名簿.docm", docm, b"Zip2026", (2026, 10, 5, 16, 20, 0))
    body = (
        f"関係者各位\n\n{_GREETING}会議の出席者名簿をお送りします。\n\n"
        "添付ファイルのパスワード：Zip2026\n"
        "文書を開くパスワード：Doc2026\n" + _CLOSING + _sig(_KAIGI)
    )
    return "office", _mail(
        "22_encrypted_docm_in_aes_zip.eml",
        subject="会議出席者名簿の送付",
        body=body,
        attachments=[Attachment("出席者名簿.zip", _ZIP, data)],
        when=at(2026, 10, 6, 9, 15, 27),
        sender=_KAIGI,
    )


def _pdf_obfuscated() -> tuple[str, Sample]:
    body = f"各位\n\n{_GREETING}年末年始の休業日のご案内をお送りします。{_CLOSING}{_sig(_SOUMU)}"
    return "pdf", _mail(
        "23_pdf_obfuscated_javascript.eml",
        subject="年末年始休業のお知らせ",
        body=body,
        attachments=[Attachment("年末年始休業のお知らせ.pdf", _PDF, pdf.obfuscated_names_pdf())],
        when=at(2026, 12, 14, 10, 30, 0),
        sender=_SOUMU,
    )


def _pdf_launch() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}台風接近に伴う出社判断の基準を共有いたします。{_CLOSING}{_sig(_SOUMU)}"
    return "pdf", _mail(
        "24_pdf_launch_action.eml",
        subject="台風接近に伴う対応について",
        body=body,
        attachments=[Attachment("台風対応基準.pdf", _PDF, pdf.launch_pdf())],
        when=at(2026, 9, 1, 7, 45, 9),
        sender=_SOUMU,
    )


def _pdf_encrypted() -> tuple[str, Sample]:
    body = (
        f"ご担当者様\n\n{_GREETING}請求書をパスワード付きPDFでお送りします。\n\n"
        f"パスワード：Km-7731{_CLOSING}{_sig(_PARTNER)}"
    )
    return "pdf", _mail(
        "25_pdf_encrypted_password_in_body.eml",
        subject="請求書（10月分）",
        body=body,
        attachments=[Attachment("請求書_10月分.pdf", _PDF, pdf.encrypted_pdf("Km-7731"))],
        when=at(2026, 11, 2, 14, 3, 33),
        sender=_PARTNER,
    )


def _pdf_embedded_exe() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}会議資料一式をお送りします。{_CLOSING}{_sig(_KAIGI)}"
    return "pdf", _mail(
        "26_pdf_file_attachment_exe.eml",
        subject="会議資料の送付",
        body=body,
        attachments=[
            Attachment("会議資料.pdf", _PDF, pdf.file_attachment_pdf("shiryou.exe", archives.harmless_exe())),
        ],
        when=at(2026, 6, 15, 17, 22, 41),
        sender=_KAIGI,
    )


def _sevenzip() -> tuple[str, Sample]:
    with fixed_randomness("27-7z"):
        data = archives.sevenzip(password="mitsumori-2026", encrypt_names=True)
    body = (
        f"ご担当者様\n"
        f"\n"
        f"{_GREETING}お見積書をお送りします。\n"
        f"解凍パスワードは「mitsumori-2026」です。{_CLOSING}{_sig(_PARTNER)}"
    )
    return "archive", _mail(
        "27_7z_password_in_body.eml",
        subject="お見積書の送付",
        body=body,
        attachments=[Attachment("見積書.7z", "application/x-7z-compressed", data)],
        when=at(2026, 4, 20, 11, 11, 11),
        sender=_PARTNER,
    )


def _lzh() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}見積書をLZH形式で圧縮してお送りします。{_CLOSING}{_sig(_PARTNER)}"
    return "archive", _mail(
        "28_lzh_exe.eml",
        subject="見積書",
        body=body,
        attachments=[Attachment("見積.lzh", "application/x-lzh-compressed", archives.lzh_stored())],
        when=at(2026, 4, 27, 9, 58, 0),
        sender=_PARTNER,
        mailer="Becky! ver. 2.75.04",
    )


def _iso() -> tuple[str, Sample]:
    with fixed_randomness("29-iso"):
        data = archives.iso_img()
    body = (
        f"ご担当者様\n"
        f"\n"
        f"{_GREETING}請求書をディスクイメージでお送りします。開いてご確認ください。{_CLOSING}{_sig(_PARTNER)}"
    )
    return "archive", _mail(
        "29_iso_img_lnk.eml",
        subject="請求書のご確認",
        body=body,
        attachments=[Attachment("請求書.img", _OCTET, data)],
        when=at(2026, 5, 11, 16, 4, 19),
        sender=_PARTNER,
    )


def _tar_xz() -> tuple[str, Sample]:
    body = f"各位\n\n{_GREETING}年次報告書を圧縮してお送りします。{_CLOSING}{_sig(_SOUMU)}"
    return "archive", _mail(
        "30_tar_xz_exe.eml",
        subject="年次報告書の送付",
        body=body,
        attachments=[Attachment("報告.tar.xz", "application/x-xz", archives.tar_xz())],
        when=at(2026, 3, 30, 18, 1, 2),
        sender=_SOUMU,
    )


def _pdf_heapspray() -> tuple[str, Sample]:
    body = f"各位\n\n{_GREETING}来年のカレンダーをお送りします。{_CLOSING}{_sig(_SOUMU)}"
    return "yara", _mail(
        "31_pdf_heapspray_javascript.eml",
        subject="2027年カレンダー",
        body=body,
        attachments=[Attachment("2027年カレンダー.pdf", _PDF, yara_examples.pdf_heapspray())],
        when=at(2026, 12, 1, 9, 0, 30),
        sender=_SOUMU,
    )


def _rtf_obfuscated() -> tuple[str, Sample]:
    body = f"各位\n\n{_GREETING}先日の会議の議事録をお送りします。{_CLOSING}{_sig(_KAIGI)}"
    return "yara", _mail(
        "32_rtf_obfuscated_object.eml",
        subject="議事録の送付",
        body=body,
        attachments=[Attachment("議事録.doc", _DOC, yara_examples.rtf_obfuscated_object())],
        when=at(2026, 2, 16, 13, 13, 13),
        sender=_KAIGI,
    )


def _jpeg_xor() -> tuple[str, Sample]:
    body = f"皆様\n\n{_GREETING}歓迎会の集合写真です。{_CLOSING}{_sig(_SOUMU)}"
    return "yara", _mail(
        "33_jpeg_with_xor_encoded_exe.eml",
        subject="歓迎会の写真",
        body=body,
        attachments=[Attachment("集合写真.jpg", "image/jpeg", yara_examples.jpeg_with_xor_exe())],
        when=at(2026, 4, 24, 12, 30, 0),
        sender=_SOUMU,
    )


def _lnk() -> tuple[str, Sample]:
    data = build_zip(
        [
            ZipMember(
                "請求書.pdf.lnk".encode("cp932"), carriers.lnk_powershell_pdf_icon(padding=300), (2026, 10, 19, 8, 0, 0)
            )
        ]
    )
    body = f"ご担当者様\n\n{_GREETING}請求書を送付いたします。ZIPを展開してご確認ください。{_CLOSING}{_sig(_PARTNER)}"
    return "carrier", _mail(
        "34_lnk_powershell_pdf_icon.eml",
        subject="請求書の送付（至急）",
        body=body,
        attachments=[Attachment("請求書.zip", _ZIP, data)],
        when=at(2026, 10, 20, 9, 41, 2),
        sender=_PARTNER,
    )


def _hta() -> tuple[str, Sample]:
    data = build_zip(
        [ZipMember("停電のお知らせ.hta".encode("cp932"), carriers.hta_downloader(), (2026, 8, 3, 7, 0, 0))]
    )
    body = f"各位\n\n{_GREETING}計画停電の詳細を添付いたします。{_CLOSING}{_sig(_SOUMU)}"
    return "carrier", _mail(
        "35_hta_downloader.eml",
        subject="計画停電のお知らせ",
        body=body,
        attachments=[Attachment("停電のお知らせ.zip", _ZIP, data)],
        when=at(2026, 8, 3, 8, 12, 45),
        sender=_SOUMU,
    )


def _js() -> tuple[str, Sample]:
    data = build_zip([ZipMember(b"readme.js", carriers.js_dropper(), (2026, 1, 5, 10, 0, 0))])
    body = (
        f"各位\n"
        f"\n"
        f"新年あけましておめでとうございます。\n"
        f"本年もよろしくお願い申し上げます。\n"
        f"年始のご挨拶状を添付いたします。{_CLOSING}{_sig(_KAIGI)}"
    )
    return "carrier", _mail(
        "36_js_dropper.eml",
        subject="新年のご挨拶",
        body=body,
        attachments=[Attachment("ご挨拶.zip", _ZIP, data)],
        when=at(2026, 1, 5, 10, 30, 0),
        sender=_KAIGI,
    )


def _rtf_equation() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}見積書を送付いたします。{_CLOSING}{_sig(_PARTNER)}"
    return "carrier", _mail(
        "37_rtf_equation_editor.eml",
        subject="見積書の送付",
        body=body,
        attachments=[Attachment("見積書.rtf", "application/rtf", carriers.rtf_equation(hex_junk=True))],
        when=at(2026, 2, 9, 14, 20, 0),
        sender=_PARTNER,
    )


def _ichitaro() -> tuple[str, Sample]:
    body = f"関係各位\n\n{_GREETING}会議資料を一太郎形式でお送りします。{_CLOSING}{_sig(_KAIGI)}"
    return "carrier", _mail(
        "38_ichitaro_embedded_exe.eml",
        subject="会議資料の送付について",
        body=body,
        attachments=[
            Attachment(
                "会議資料.jtd", "application/x-js-taro", carriers.ichitaro_with_mz(xor_key=0x5A, shellcode_idioms=True)
            )
        ],
        when=at(2026, 3, 2, 11, 5, 0),
        sender=_KAIGI,
    )


def _chm() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}システム更新の操作手順書をお送りします。{_CLOSING}{_sig(_PARTNER)}"
    return "carrier", _mail(
        "39_chm_shortcut.eml",
        subject="操作手順書の送付",
        body=body,
        attachments=[Attachment("操作手順書.chm", "application/vnd.ms-htmlhelp", carriers.chm_shortcut())],
        when=at(2026, 7, 13, 15, 0, 0),
        sender=_PARTNER,
    )


def _dropper() -> tuple[str, Sample]:
    # A dropper as the report describes them: the beaconing program carried as a resource of another, whose
    # compile time was wiped to zero.
    exe = pe.build_pe(
        imports={"KERNEL32.dll": ["FindResourceA", "LoadResource", "WriteFile", "CreateProcessA", "ExitProcess"]},
        resources=[pe.Resource(pe.RT_RCDATA, 101, pe.beacon_pe(original_name=None))],
        timestamp=0,
    )
    data = build_zip([ZipMember("人事異動.exe".encode("cp932"), exe, (2026, 3, 25, 18, 0, 0))])
    body = (
        f"各位\n\n{_GREETING}4月1日付の人事異動について内示をお送りします。\n"
        f"取り扱いにはご注意ください。{_CLOSING}{_sig(_SOUMU)}"
    )
    return "pe", _mail(
        "40_dropper_exe_zero_timestamp.eml",
        subject="人事異動の内示について",
        body=body,
        attachments=[Attachment("人事異動.zip", _ZIP, data)],
        when=at(2026, 3, 26, 8, 50, 10),
        sender=_SOUMU,
    )


def _pdf_remote_action() -> tuple[str, Sample]:
    body = f"ご担当者様\n\n{_GREETING}契約書の最新版をお送りします。{_CLOSING}{_sig(_PARTNER)}"
    return "pdf", _mail(
        "41_pdf_unc_remote_action.eml",
        subject="契約書（最新版）",
        body=body,
        attachments=[Attachment("契約書.pdf", _PDF, pdf.remote_action_pdf())],
        when=at(2026, 6, 22, 10, 4, 55),
        sender=_PARTNER,
    )


_BUILDERS: tuple[Callable[[], tuple[str, Sample]], ...] = (
    _beacon_zip,
    _packed_scr,
    _sfx,
    _macro_doc,
    _remote_template,
    _dde,
    _package,
    _encrypted_docm_in_aes_zip,
    _pdf_obfuscated,
    _pdf_launch,
    _pdf_encrypted,
    _pdf_embedded_exe,
    _sevenzip,
    _lzh,
    _iso,
    _tar_xz,
    _pdf_heapspray,
    _rtf_obfuscated,
    _jpeg_xor,
    _lnk,
    _hta,
    _js,
    _rtf_equation,
    _ichitaro,
    _chm,
    _dropper,
    _pdf_remote_action,
)


def payload_samples() -> list[Sample]:
    """Every payload sample, in file-name order."""
    return [builder()[1] for builder in _BUILDERS]


def _member(zip_bytes: bytes) -> bytes:
    with pyzipper.ZipFile(io.BytesIO(zip_bytes)) as zf:
        return zf.read(zf.infolist()[0])


def verify_payloads(samples: Sequence[Sample]) -> list[str]:
    """What is wrong with the payload samples (empty when nothing): archives open with the passwords their
    messages give, and every PE inside is harmless (its entry point is a `ret`)."""
    import pefile

    problems: list[str] = []
    by_file = {s.file: s for s in samples}
    zip15 = by_file["15_beacon_exe_in_password_zip.eml"].attachments[0].data
    with pyzipper.ZipFile(io.BytesIO(zip15)) as zf:
        exe = zf.read(zf.infolist()[0], pwd=b"Mt0519")
    zip22 = by_file["22_encrypted_docm_in_aes_zip.eml"].attachments[0].data
    with pyzipper.AESZipFile(io.BytesIO(zip22)) as zf:
        zf.setpassword(b"Zip2026")
        if not zf.read(zf.infolist()[0]).startswith(b"\xd0\xcf\x11\xe0"):
            problems.append("22: the AES zip does not hold the encrypted (OLE) document")
    for label, data in (
        ("15 member", exe),
        ("16", pe.upx_like_pe()),
        ("17", by_file["17_self_extracting_exe.eml"].attachments[0].data),
        ("40 member", _member(by_file["40_dropper_exe_zero_timestamp.eml"].attachments[0].data)),
    ):
        parsed = pefile.PE(data=data, fast_load=True)
        entry = parsed.get_offset_from_rva(parsed.OPTIONAL_HEADER.AddressOfEntryPoint)
        if data[entry] != 0xC3:
            problems.append(f"{label}: the PE's entry point is not a ret")
    return problems
