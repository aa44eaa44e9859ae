"""find_original: forwards as message/rfc822, as an attached .eml, and inline; and what is not a forward."""

from __future__ import annotations

from triage.ingest.eml import parse_email
from triage.ingest.forward import Forwarded, find_original

from ._build import attachment, b_word, envelope, mime, multipart, text_part

ORIGINAL = mime(
    [
        ("From", f"{b_word('内閣府', 'ISO-2022-JP')} <info@cao-go.jp.example.com>"),
        ("To", "staff@example.go.jp"),
        ("Subject", b_word("新年会のご案内", "ISO-2022-JP")),
        ("Date", "Mon, 16 Nov 2026 09:00:00 +0800"),
        ("Content-Type", "text/plain; charset=ISO-2022-JP"),
    ],
    "添付のファイルをご確認ください。".encode("iso2022_jp"),
)


def _forwarded(raw: bytes) -> Forwarded:
    found = find_original(parse_email(raw))
    assert found is not None
    return found


def test_message_rfc822_forward() -> None:
    raw = multipart(
        [text_part("不審なメールを転送します。"), mime([("Content-Type", "message/rfc822")], ORIGINAL)],
        headers=envelope(subject="FW: 新年会のご案内", sender="analyst@example.go.jp"),
    )
    parsed = parse_email(raw)
    found = find_original(parsed)
    assert found is not None
    assert found.how == "rfc822"
    assert found.part_path == "2"
    assert found.parsed is parsed.parts[1].message  # the same object the MIME unpacker hands over
    assert found.parsed.info.from_ == "info@cao-go.jp.example.com"
    assert found.parsed.info.subject == "新年会のご案内"
    assert found.evidence == ("part 2 message/rfc822",)
    assert find_original(parsed) is found  # computed once


def test_attached_eml_as_octet_stream() -> None:
    raw = multipart(
        [text_part("Please check the attached mail."), attachment(ORIGINAL, 'attachment; filename="original.eml"')],
        headers=envelope(subject="Fwd: suspicious"),
    )
    found = _forwarded(raw)
    assert found.how == "attached-eml"
    assert found.part_path == "2"
    assert found.evidence == ('part 2 "original.eml"',)
    assert found.parsed.info.subject == "新年会のご案内"
    assert found.parsed.text == "添付のファイルをご確認ください。"


def test_attached_message_without_eml_name_is_sniffed() -> None:
    raw = multipart(
        [text_part("see attached"), attachment(ORIGINAL, 'attachment; filename="message"')], headers=envelope()
    )
    found = _forwarded(raw)
    assert found.how == "attached-eml"
    assert found.parsed.info.subject == "新年会のご案内"


def test_several_originals_take_the_first() -> None:
    second = ORIGINAL.replace(b"info@cao-go.jp.example.com", b"second@example.com")
    raw = multipart(
        [
            text_part("two samples"),
            attachment(ORIGINAL, "attachment; filename=a.eml"),
            attachment(second, "attachment; filename=b.eml"),
        ],
        headers=envelope(),
    )
    found = _forwarded(raw)
    assert found.part_path == "2"
    assert found.parsed.info.from_ == "info@cao-go.jp.example.com"
    assert "2 originals attached" in found.evidence


def test_attached_eml_under_a_long_newsletter_is_not_a_forward() -> None:
    newsletter = "今月のお知らせです。新製品のご紹介とイベント情報をお届けします。\n" * 80
    raw = multipart(
        [text_part(newsletter), attachment(ORIGINAL, "attachment; filename=archive.eml")],
        headers=envelope(subject="月刊ニュースレター"),
    )
    parsed = parse_email(raw)
    assert find_original(parsed) is None


def test_quoted_lines_and_signature_do_not_count_as_covering_text() -> None:
    quoted = "> " + "以前のメールの引用です。" * 400
    signature = "-- \n" + "署名 " * 1000
    raw = multipart(
        [text_part(f"転送します。\n{quoted}\n{signature}"), attachment(ORIGINAL, "attachment; filename=x.eml")],
        headers=envelope(),
    )
    assert _forwarded(raw).how == "attached-eml"


def test_bounce_is_not_a_forward() -> None:
    report = multipart(
        [
            text_part("This is the mail system. Your message could not be delivered."),
            mime([("Content-Type", "message/delivery-status")], b"Reporting-MTA: dns; mx.example\r\n"),
            mime([("Content-Type", "message/rfc822")], ORIGINAL),
        ],
        headers=envelope(subject="Undelivered Mail Returned to Sender"),
        subtype="report",
        boundary="R",
    )
    assert find_original(parse_email(report)) is None


def test_git_patch_attachment_is_not_a_forward() -> None:
    patch = (
        b"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        b"From: Dev <dev@example.org>\nDate: Mon, 16 Nov 2026 10:00:00 +0000\nSubject: [PATCH] fix\n\n---\n"
    )
    raw = multipart(
        [text_part("patch attached"), attachment(patch, "attachment; filename=0001-fix.patch", "text/x-patch")],
        headers=envelope(),
    )
    assert find_original(parse_email(raw)) is None


def test_inline_gmail_forward() -> None:
    body = (
        "ご確認お願いします。\n\n"
        "---------- Forwarded message ---------\n"
        "From: 内閣府 <info@cao-go.jp.example.com>\n"
        "Date: 2026年11月16日(月) 9:00\n"
        "Subject: 新年会のご案内\n"
        "To: <staff@example.go.jp>\n"
        "\n"
        "添付のファイルをご確認ください。\n"
        "パスワードは別途お送りします。\n"
    )
    raw = mime([*envelope(subject="Fwd: 新年会のご案内"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    found = _forwarded(raw)
    assert found.how == "inline"
    assert found.part_path is None
    assert found.evidence == ("---------- Forwarded message ---------",)
    info = found.parsed.info
    assert info.from_ == "info@cao-go.jp.example.com"
    assert info.from_display == "内閣府"
    assert info.subject == "新年会のご案内"
    assert info.date == "2026年11月16日(月) 9:00"
    assert info.to == ("staff@example.go.jp",)
    assert found.parsed.text == "添付のファイルをご確認ください。\nパスワードは別途お送りします。"
    assert found.parsed.parts == ()
    assert ("Subject", "新年会のご案内") in found.parsed.headers


def test_inline_japanese_outlook_forward() -> None:
    body = (
        "情報セキュリティ担当 御中\n\n不審なメールが届きましたので転送します。\n\n"
        "差出人: 総務省 大臣官房 <soumu@soumu-go.jp.example.net>\n"
        "送信日時: 2026年11月16日 9:00\n"
        "宛先: 山田 太郎 <yamada@example.go.jp>\n"
        "件名: 【至急】予算資料の確認\n"
        "\n"
        "お疲れ様です。資料を添付します。\n"
    )
    raw = mime(
        [*envelope(subject="FW: 【至急】予算資料の確認"), ("Content-Type", "text/plain; charset=iso-2022-jp")],
        body.encode("iso2022_jp"),
    )
    found = _forwarded(raw)
    assert found.how == "inline"
    info = found.parsed.info
    assert info.from_ == "soumu@soumu-go.jp.example.net"
    assert info.from_display == "総務省 大臣官房"
    assert info.subject == "【至急】予算資料の確認"
    assert info.date == "2026年11月16日 9:00"
    assert info.to == ("yamada@example.go.jp",)
    assert found.parsed.text == "お疲れ様です。資料を添付します。"


def test_inline_outlook_original_message_block() -> None:
    body = (
        "FYI\n\n-----Original Message-----\nFrom: Someone [mailto:someone@example.com]\n"
        "Sent: Monday, November 16, 2026 9:00 AM\nTo: me@example.jp\nSubject: invoice\n\nPlease pay.\n"
    )
    raw = mime([*envelope(subject="FW: invoice"), ("Content-Type", "text/plain")], body.encode())
    found = _forwarded(raw)
    assert found.parsed.info.from_ == "someone@example.com"
    assert found.parsed.info.from_display == "Someone"


def test_reply_with_quoted_text_is_not_a_forward() -> None:
    body = (
        "ありがとうございます。承知しました。\n\n"
        "On Mon, Nov 16, 2026 at 9:00 AM Taro <taro@example.jp> wrote:\n"
        "> ---------- Forwarded message ---------\n"
        "> From: Someone <someone@example.com>\n"
        "> Subject: hello\n"
        ">\n"
        "> 本文\n"
    )
    raw = mime([*envelope(subject="Re: hello"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    assert find_original(parse_email(raw)) is None


def test_outlook_reply_block_is_not_a_forward() -> None:
    body = (
        "了解です。\n\n差出人: 山田 <yamada@example.jp>\n送信日時: 2026年11月16日 9:00\n"
        "宛先: 鈴木 <suzuki@example.jp>\n件名: 打ち合わせ\n\n明日の件です。\n"
    )
    raw = mime([*envelope(subject="RE: 打ち合わせ"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    assert find_original(parse_email(raw)) is None


def test_marker_below_a_long_text_is_not_a_forward() -> None:
    body = "長い本文です。" * 400 + "\n---------- Forwarded message ---------\nFrom: a@example.com\nSubject: x\n\ny\n"
    raw = mime([*envelope(subject="Fwd: x"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    assert find_original(parse_email(raw)) is None


def test_plain_message_is_not_a_forward() -> None:
    raw = mime(
        [*envelope(subject="会議"), ("Content-Type", "text/plain; charset=utf-8")],
        "From: の書式について\n明日の会議は10時からです。".encode(),
    )
    assert find_original(parse_email(raw)) is None


def test_decorated_header_block_values_are_trimmed() -> None:
    body = "-- Forwarded message --\n**From:** **Taro <taro@example.jp>** _\n*Subject:*  件名 ** \n\nbody\n"
    raw = mime([*envelope(subject="Fwd: x"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    found = _forwarded(raw)
    assert found.parsed.info.from_ == "taro@example.jp"
    assert found.parsed.info.subject == "件名"


def test_hostile_marker_and_header_lines_finish() -> None:
    # long runs where the old patterns re-split or rescanned a run from every position in it (quadratic)
    spaces = " " * 400_000
    for body in (
        f"---------- Forwarded message{spaces}x\n",
        "-- forwarded by " + "-" * 400_000 + "x\n",
        f"----- Original Message{spaces}-x\n",
        f"---------- Forwarded message ---------\nFrom: x{spaces}y\nSubject: s\n\nbody\n",
    ):
        raw = mime([*envelope(subject="Fwd: x"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
        parse_email(raw)
    raw = mime(
        [*envelope(subject="Fwd: x"), ("Content-Type", "text/plain")],
        f"---------- Forwarded message ---------\nFrom: a@b.example{spaces}\nSubject: s\n\nbody\n".encode(),
    )
    assert _forwarded(raw).parsed.info.from_ == "a@b.example"


def test_inline_forward_after_a_flood_of_blank_lines() -> None:
    # blank lines are skipped before the marker patterns run (a million of them cost seconds otherwise); a marker
    # after them is still found, and they count as no cover text
    body = (
        "ご確認お願いします。"
        + "\n" * 200_000
        + (
            "---------- Forwarded message ---------\n"
            "From: 内閣府 <info@cao-go.jp.example.com>\nSubject: 新年会のご案内\n\n本文\n"
        )
    )
    raw = mime([*envelope(subject="Fwd: 新年会のご案内"), ("Content-Type", "text/plain; charset=utf-8")], body.encode())
    found = _forwarded(raw)
    assert found.how == "inline"
    assert found.parsed.info.from_ == "info@cao-go.jp.example.com"
