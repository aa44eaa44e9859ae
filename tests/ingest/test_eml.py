"""parse_email: headers, bodies, parts and file names decoded the way Japanese mail really arrives."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import random
import re
from email.message import EmailMessage, Message

from triage.ingest import eml
from triage.ingest.eml import (
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_TEXT,
    ParsedEmail,
    address_list,
    html_to_text,
    parse_email,
    parse_message_object,
    split_address,
)

from ._build import attachment, b_word, envelope, mime, multipart, text_part

JA = "添付の資料をご確認ください。"


def _part(parsed: ParsedEmail, path: str) -> object:
    return next(p for p in parsed.parts if p.path == path)


def _names(parsed: ParsedEmail) -> list[str | None]:
    return [p.filename for p in parsed.parts if not p.is_body]


# -- Japanese bodies and subjects ----------------------------------------------------------------------------------


def test_iso_2022_jp_body_and_rfc2047_subject() -> None:
    raw = mime(
        [
            *envelope(subject=b_word("【重要】会議資料", "ISO-2022-JP")),
            ("Content-Type", "text/plain; charset=ISO-2022-JP"),
            ("Content-Transfer-Encoding", "7bit"),
        ],
        JA.encode("iso2022_jp"),
    )
    parsed = parse_email(raw)
    assert parsed.info.subject == "【重要】会議資料"
    assert parsed.text == JA
    assert parsed.parts[0].charset == "iso-2022-jp"
    assert parsed.parts[0].charset_used == "iso2022_jp"
    assert parsed.parts[0].is_body
    assert "iso-2022-jp" in parsed.charsets


def test_cp932_body_mislabelled_iso_2022_jp() -> None:
    raw = mime([*envelope(), ("Content-Type", "text/plain; charset=iso-2022-jp")], (JA + "①").encode("cp932"))
    parsed = parse_email(raw)
    assert parsed.text == JA + "①"
    assert parsed.parts[0].charset_used == "cp932"


def test_nec_special_characters_in_iso_2022_jp_body_and_subject() -> None:
    nec = b"\x1b$B\x2d\x21\x2d\x6a\x1b(B"  # ①㈱ as CP50220 writes them
    subject = "=?ISO-2022-JP?B?" + base64.b64encode(nec).decode() + "?="
    raw = mime([*envelope(subject=subject), ("Content-Type", "text/plain; charset=ISO-2022-JP")], nec + b"\r\n")
    parsed = parse_email(raw)
    assert parsed.info.subject == "①㈱"
    assert parsed.text.strip() == "①㈱"


def test_raw_8bit_utf8_subject_and_display_name() -> None:
    raw = mime(
        [
            ("From", "山田 太郎 <Taro.Yamada@Example.GO.JP>".encode()),
            ("Subject", "請求書の件".encode()),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        "本文".encode(),
    )
    parsed = parse_email(raw)
    assert parsed.info.subject == "請求書の件"
    assert parsed.info.from_display == "山田 太郎"
    assert parsed.info.from_ == "taro.yamada@example.go.jp"


def test_raw_8bit_subject_uses_the_body_charset() -> None:
    raw = mime(
        [("Subject", "会议通知".encode("gb2312")), ("Content-Type", "text/plain; charset=gb2312")],
        "请查收".encode("gb2312"),
    )
    parsed = parse_email(raw)
    assert parsed.info.subject == "会议通知"
    assert parsed.text == "请查收"
    assert parsed.parts[0].charset_used == "gb18030"


def test_html_body_and_html_text() -> None:
    html = (
        "<html><head><style>p{}</style><script>x()</script></head><body><p>会議&amp;資料</p>"
        "<div>一行目<br>二行目</div></body></html>"
    )
    raw = multipart(
        [text_part("plain 本文"), text_part(html, subtype="html", cte="base64")],
        headers=envelope(),
        subtype="alternative",
    )
    parsed = parse_email(raw)
    assert parsed.text == "plain 本文"
    assert parsed.html == html
    assert [line for line in parsed.html_text.splitlines() if line] == ["会議&資料", "一行目", "二行目"]
    assert "x()" not in parsed.html_text


def test_html_to_text_hostile_markup_finishes() -> None:
    for html in ("<a" * 200_000, "<!--" * 100_000, "<script>" * 50_000, "&#" * 200_000, "<" * 300_000):
        assert isinstance(html_to_text(html), str)
    for html in (
        "<script" * 100_000,
        "<script/" + "/" * 300_000,
        "<script>" + "</scrip" * 100_000,
        "<p" * 200_000,
        "<td<th" * 100_000,
        "<br " + "x" * 500_000,
        "<!" + "-" * 500_000,
        "<?" * 200_000,
    ):
        assert isinstance(html_to_text(html), str)


def _html_to_text_reference(html: str) -> str:
    """The character scanner html_to_text replaced (one compiled tokenizer now): the oracle for its output."""
    import html as html_lib

    names = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,31})")
    raw_end = {"script": re.compile(r"</script", re.IGNORECASE), "style": re.compile(r"</style", re.IGNORECASE)}
    breaks = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"}
    breaks |= {"pre", "hr", "title", "section", "article", "header", "footer", "dd", "dt", "center", "form"}
    mark = "\ue000"
    html = html.replace(mark, "")
    out: list[str] = []
    i, n = 0, len(html)
    while i < n:
        j = html.find("<", i)
        if j < 0:
            out.append(html[i:])
            break
        out.append(html[i:j])
        if html.startswith("<!--", j):
            k = html.find("-->", j + 4)
            i = n if k < 0 else k + 3
            continue
        if html.startswith(("<!", "<?"), j):
            k = html.find(">", j + 2)
            i = n if k < 0 else k + 1
            continue
        m = names.match(html, j)
        if m is None:
            out.append("<")
            i = j + 1
            continue
        k = html.find(">", m.end())
        if k < 0:
            break
        closing, name = m.group(1) == "/", m.group(2).lower()
        i = k + 1
        if name in breaks:
            out.append(mark)
        elif name in ("td", "th"):
            out.append(" ")
        if not closing and name in raw_end and html[k - 1 : k] != "/":
            end = raw_end[name].search(html, i)
            if end is None:
                break
            k2 = html.find(">", end.end())
            i = n if k2 < 0 else k2 + 1
    text = re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", html_lib.unescape("".join(out))).replace(mark, "\n")
    lines = (line.strip(" ") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()[:MAX_TEXT]


def test_html_to_text_matches_the_character_scanner() -> None:
    tokens = [
        *("<", ">", "/", "!", "?", "-", "--", "<!--", "-->", "=", '"', "'", ":", "1", " ", "\n", "&amp;", "&"),
        *("br", "BR", "p", "pre", "td", "th", "script", "SCRIPT", "style", "scripts", "\u017fcript", "\u017ftyle"),
        *("h1", "h6", "h7", "hr", "header", "li", "ul", "ol", "tr", "table", "dd", "dt", "dl", "blockquote"),
        *("section", "article", "footer", "center", "form", "title", "tbody", "b", "d", "t", "h", "div", "a", "x"),
        *("\ue000", "\u00a0", "\u212a"),
    ]
    rng = random.Random(20261126)
    for _ in range(20_000):
        html = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 30)))
        assert html_to_text(html) == _html_to_text_reference(html), repr(html)


# -- file names --------------------------------------------------------------------------------------------------


def test_rfc2231_filename_utf8() -> None:
    name = "請求書_2026年11月.pdf"
    quoted = "".join(f"%{b:02X}" for b in name.encode())
    raw = multipart(
        [text_part("x"), attachment(b"%PDF-1.4", f"attachment; filename*=UTF-8''{quoted}")], headers=envelope()
    )
    assert _names(parse_email(raw)) == [name]


def test_rfc2231_filename_shift_jis_with_continuations() -> None:
    name = "会議資料（最終版）①.docx"
    quoted = "".join(f"%{b:02X}" for b in name.encode("cp932"))
    half = len(quoted) // 2 // 3 * 3  # keep %XX triplets whole
    disp = f"attachment;\r\n filename*0*=shift_jis''{quoted[:half]};\r\n filename*1*={quoted[half:]}"
    raw = multipart([text_part("x"), attachment(b"PK\x03\x04", disp)], headers=envelope())
    assert _names(parse_email(raw)) == [name]


def test_rfc2047_inside_quoted_filename() -> None:
    name = "見積書.xls"
    disp = f'attachment; filename="{b_word(name, "ISO-2022-JP")}"'
    ctype = f'application/vnd.ms-excel; name="{b_word(name, "ISO-2022-JP")}"'
    raw = multipart([text_part("x"), attachment(b"\xd0\xcf\x11\xe0", disp, ctype)], headers=envelope())
    parsed = parse_email(raw)
    assert _names(parsed) == [name]
    assert parsed.parts[1].content_type == "application/vnd.ms-excel"


def test_raw_8bit_filenames_are_detected() -> None:
    utf8 = attachment(b"x", 'attachment; filename="報告書.pdf"'.encode())
    sjis = attachment(b"x", 'attachment; filename="報告書.zip"'.encode("cp932"))
    raw = multipart([text_part("x"), utf8, sjis], headers=envelope())
    assert _names(parse_email(raw)) == ["報告書.pdf", "報告書.zip"]


def test_content_type_name_is_the_fallback() -> None:
    raw = multipart(
        [text_part("x"), mime([("Content-Type", 'application/pdf; name="a.pdf"')], b"%PDF")], headers=envelope()
    )
    parsed = parse_email(raw)
    assert _names(parsed) == ["a.pdf"]
    assert parsed.parts[1].disposition is None


def test_bidi_control_characters_are_kept_in_names() -> None:
    name = "invoice\u202efdp.exe"
    quoted = "".join(f"%{b:02X}" for b in name.encode())
    raw = multipart([text_part("x"), attachment(b"MZ", f"attachment; filename*=utf-8''{quoted}")], headers=envelope())
    assert _names(parse_email(raw)) == [name]
    raw2 = multipart(
        [text_part("x"), attachment(b"MZ", f'attachment; filename="{b_word(name, "utf-8")}"')], headers=envelope()
    )
    assert _names(parse_email(raw2)) == [name]


# -- transfer encodings ------------------------------------------------------------------------------------------


def test_base64_with_broken_padding_still_decodes() -> None:
    payload = b"MZ\x90\x00" + bytes(range(200))
    encoded = base64.b64encode(payload).rstrip(b"=")[:-1]  # padding gone, and a dangling character
    part = mime(
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", "attachment; filename=a.bin"),
            ("Content-Transfer-Encoding", "base64"),
        ],
        encoded + b"\r\n",
    )
    parsed = parse_email(multipart([text_part("x"), part], headers=envelope()))
    got = parsed.parts[1].payload
    assert got == payload[: len(got)]
    assert len(got) >= len(payload) - 2


def test_base64_with_junk_in_the_middle() -> None:
    payload = bytes(range(256)) * 4
    lines = base64.encodebytes(payload).splitlines()
    lines.insert(3, b"!!! *** !!!")  # characters outside the alphabet are skipped
    part = mime(
        [("Content-Type", "application/octet-stream"), ("Content-Transfer-Encoding", "Base64 ")], b"\r\n".join(lines)
    )
    parsed = parse_email(multipart([text_part("x"), part], headers=envelope()))
    assert parsed.parts[1].payload == payload


def test_quoted_printable_and_uuencode() -> None:
    qp = mime(
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")],
        b"=E4=BC=9A=E8=AD=B0=\r\n=E8=B3=87=E6=96=99",
    )
    uu = mime(
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", "attachment; filename=u.bin"),
            ("Content-Transfer-Encoding", "x-uuencode"),
        ],
        b"begin 644 u.bin\r\n%:&5L;&\\`\r\n`\r\nend\r\n",
    )
    parsed = parse_email(multipart([qp, uu], headers=envelope()))
    assert parsed.text == "会議資料"
    assert parsed.parts[1].payload == b"hello"


def test_8bit_body_bytes_are_kept_exactly() -> None:
    body = "全角テキスト①".encode("cp932")
    part = mime(
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", "attachment; filename=x"),
            ("Content-Transfer-Encoding", "8bit"),
        ],
        body,
    )
    parsed = parse_email(multipart([text_part("x"), part], headers=envelope()))
    assert parsed.parts[1].payload.rstrip(b"\r\n") == body


def test_unknown_transfer_encoding_is_a_defect() -> None:
    raw = mime([*envelope(), ("Content-Transfer-Encoding", "x-nonsense")], b"hello")
    parsed = parse_email(raw)
    assert parsed.text == "hello"
    assert any("unknown Content-Transfer-Encoding" in d for d in parsed.defects)


# -- structure, defects, headers ---------------------------------------------------------------------------------


def test_part_paths_and_body_flags() -> None:
    inner = multipart(
        [text_part("plain"), text_part("<p>html</p>", subtype="html")], subtype="alternative", boundary="INNER"
    )
    raw = multipart([inner, attachment(b"%PDF", "attachment; filename=a.pdf", "application/pdf")], headers=envelope())
    parsed = parse_email(raw)
    assert [(p.path, p.content_type, p.is_body) for p in parsed.parts] == [
        ("1.1", "text/plain", True),
        ("1.2", "text/html", True),
        ("2", "application/pdf", False),
    ]
    assert parsed.parts[0].container == "multipart/alternative"


def test_text_attachment_is_not_body() -> None:
    raw = multipart(
        [
            text_part("body"),
            mime([("Content-Type", "text/plain"), ("Content-Disposition", "attachment; filename=notes.txt")], b"notes"),
        ],
        headers=envelope(),
    )
    parsed = parse_email(raw)
    assert parsed.text == "body"
    assert not parsed.parts[1].is_body


def test_defects_are_recorded_with_their_path() -> None:
    raw = multipart([text_part("x")], headers=envelope(), close=False).replace(
        b'boundary="BOUNDARY"', b'boundary="OTHER"'
    )
    parsed = parse_email(raw)
    assert any(d.startswith("root: ") and "Boundary" in d for d in parsed.defects)
    assert len(parsed.defects) == len(set(parsed.defects))


def test_message_info() -> None:
    raw = mime(
        [
            ("Return-Path", "<Bounce@Mailer.example.net>"),
            (
                "Received",
                "from mx.example.jp (mx.example.jp [192.0.2.1]) by mail.example.go.jp with ESMTPS id 1; "
                "Mon, 16 Nov 2026 10:00:02 +0900",
            ),
            (
                "Received",
                "from client (unknown [198.51.100.7]) by mx.example.jp with SMTP id 2 for <a@example.jp>; "
                "Mon, 16 Nov 2026 10:00:01 +0900",
            ),
            (
                "Authentication-Results",
                "mail.example.go.jp; spf=softfail smtp.mailfrom=example.net; dkim=none; "
                "dmarc=fail header.from=example.go.jp",
            ),
            ("Authentication-Results", "other.example; spf=pass; dkim=pass; dmarc=pass"),
            ("From", f"{b_word('内閣府 総務課', 'ISO-2022-JP')} <Soumu@Example.GO.JP>"),
            ("Reply-To", "Reply <Reply@Freemail.example>"),
            ("Sender", "sender@example.net"),
            ("To", "a@example.jp, B <b@Example.jp>"),
            ("Subject", "test"),
            ("Date", "Mon, 16 Nov 2026 10:00:00 +0800"),
            ("Message-ID", "<id@example.net>"),
            ("X-Mailer", "Foxmail 7.2"),
            ("Content-Type", "text/plain"),
        ],
        b"body",
    )
    info = parse_email(raw).info
    assert info.from_ == "soumu@example.go.jp"
    assert info.from_display == "内閣府 総務課"
    assert info.reply_to == ("reply@freemail.example",)
    assert info.return_path == "bounce@mailer.example.net"
    assert info.sender == "sender@example.net"
    assert info.to == ("a@example.jp", "b@example.jp")
    assert info.date == "Mon, 16 Nov 2026 10:00:00 +0800"
    assert info.message_id == "<id@example.net>"
    assert (info.authentication.spf, info.authentication.dkim, info.authentication.dmarc) == (
        "softfail",
        "none",
        "fail",
    )
    assert len(info.received) == 2
    first = info.received[0]  # nearest the sender: the bottom header
    assert first.raw.startswith("from client")
    assert first.from_ is not None and "198.51.100.7" in first.from_
    assert first.by == "mx.example.jp"
    assert first.with_ == "SMTP"
    assert first.date == "Mon, 16 Nov 2026 10:00:01 +0900"
    assert info.received[1].by == "mail.example.go.jp"
    assert parse_email(raw).x_mailer == "Foxmail 7.2"


def test_received_spf_when_no_authentication_results() -> None:
    raw = mime([("Received-SPF", "Pass (mailfrom) identity=mailfrom"), ("Content-Type", "text/plain")], b"x")
    assert parse_email(raw).info.authentication.spf == "pass"


def test_headers_are_decoded_in_order_and_capped() -> None:
    extra = [(f"X-H{i}", "v") for i in range(MAX_HEADERS + 20)]
    raw = mime([("Subject", b_word("件名", "utf-8")), ("X-Long", "a" * (MAX_HEADER_VALUE * 3)), *extra], b"x")
    parsed = parse_email(raw)
    assert parsed.headers[0] == ("Subject", "件名")
    assert parsed.headers[1][0] == "X-Long"
    assert len(parsed.headers[1][1]) == MAX_HEADER_VALUE
    assert len(parsed.headers) == MAX_HEADERS
    assert any("too many headers" in d for d in parsed.defects)


def test_split_address_forms() -> None:
    assert split_address('"Yamada" <Taro@Example.JP>') == ("taro@example.jp", "Yamada")
    assert split_address("Taro Yamada [mailto:taro@example.jp]") == ("taro@example.jp", "Taro Yamada")
    assert split_address("taro@example.jp") == ("taro@example.jp", None)
    assert split_address(None) == (None, None)


def _param_reference(raw: str, name: str, header: str) -> object:
    """What Message.get_param gives for one name (or "raises"): the call _param made once per name."""
    holder = Message()
    holder[header] = raw
    try:
        return holder.get_param(name, None, header=header)
    except Exception:
        return "raises"


def test_parameters_parsed_once_read_as_get_param_reads_them() -> None:
    tokens = ["text/plain", "attachment", ";", " ", "=", '"', "'", "\\", "*", "*0", "*1", "*0*", "name", "filename"]
    tokens += ["charset", "NAME", "FileName", "utf-8", "utf-8''%E3%81%82", "iso-2022-jp'ja'", "a.pdf", "<x>", ","]
    rng = random.Random(2231)
    for _ in range(5000):
        raw = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 14)))
        for header in ("content-type", "content-disposition"):
            params = eml._params(raw, header)
            for name in ("charset", "name", "filename"):
                expected = _param_reference(raw, name, header)
                if params is None:  # no value anywhere (then _param gives None whatever get_param says), or raises
                    assert "=" not in raw or expected == "raises", (raw, name)
                    continue
                found = next((eml._unquote_param(v) for k, v in params[0] if k.lower() == name), None)
                assert found == expected, (raw, name)


def test_simple_addresses_read_as_getaddresses_reads_them() -> None:
    # eml._addresses skips getaddresses for one plain address, bare or in angle brackets: it must return the same
    atext = "aZ09._+-="
    rng = random.Random(5322)
    for _ in range(20_000):
        local = "".join(rng.choice(atext) for _ in range(rng.randint(1, 8)))
        address = local + "@" + "".join(rng.choice(atext) for _ in range(rng.randint(1, 8)))
        value = address if rng.random() < 0.5 else f"<{address}>"
        value = rng.choice(["", " ", "\t"]) + value + rng.choice(["", " ", "  "])
        assert email.utils.getaddresses([value]) == [("", address)], value
        assert address_list([value]) == (address.lower(),)


# -- nested messages and other entry points ----------------------------------------------------------------------


def test_message_rfc822_part_is_parsed_and_regenerated() -> None:
    inner = mime(
        [
            *envelope(subject=b_word("元のメール", "ISO-2022-JP"), sender="attacker@evil.example"),
            ("Content-Type", "text/plain; charset=ISO-2022-JP"),
        ],
        JA.encode("iso2022_jp"),
    )
    raw = multipart([text_part("fyi"), mime([("Content-Type", "message/rfc822")], inner)], headers=envelope())
    parsed = parse_email(raw)
    part = parsed.parts[1]
    assert part.content_type == "message/rfc822"
    assert part.message is not None
    assert part.message.info.subject == "元のメール"
    assert part.message.text == JA
    again = parse_email(part.payload)  # the regenerated bytes are the same message
    assert again.info.subject == "元のメール"
    assert again.text == JA
    assert len(parsed.parts) == 2  # the nested message's parts are its own


def test_parse_message_object_from_email_message() -> None:
    msg = EmailMessage()
    msg["From"] = "Yamada <yamada@example.jp>"
    msg["Subject"] = "会議"
    msg.set_content("本文です。")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="資料.pdf")
    parsed = parse_message_object(msg)
    assert parsed.info.subject == "会議"
    assert parsed.text.strip() == "本文です。"
    assert _names(parsed) == ["資料.pdf"]
    assert parsed.parts[1].payload == b"%PDF-1.4"
    compat = email.message_from_bytes(msg.as_bytes(), policy=email.policy.compat32)
    assert parse_message_object(compat).info.subject == "会議"
