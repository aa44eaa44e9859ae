"""Turning attacker-supplied bytes and header values into text, with Japanese mail done right.

`decode_bytes` never raises: a declared charset is a hint, not a promise. Japanese mail in the wild is full of
mislabelled bodies (Shift_JIS sent as ISO-2022-JP), Microsoft extensions (CP5022x: ①, ㈱, 髙 inside ISO-2022-JP)
and bogus labels, and an analyzer that sees mojibake misses the lure. Charset names returned are Python codec
names, plus `iso2022_jp_ms` for our own CP5022x decoder (ISO-2022-JP mapped through CP932).

`decode_header_value` decodes RFC 2047 encoded-words itself rather than through `email.header.decode_header`:
that function raises on bad base64, mangles non-ASCII text around encoded-words (`raw-unicode-escape`), cannot
see raw 8-bit bytes, and its `.*?` pattern is quadratic on hostile input.
"""

from __future__ import annotations

import binascii
import codecs
import re

__all__ = [
    "decode_base64_lenient",
    "decode_bytes",
    "decode_header_value",
    "decode_header_with_charsets",
    "normalise_charset",
    "to_bytes",
]

MAX_HEADER_INPUT = 64 * 1024  # characters of a raw header value we look at; the rest is dropped
_MAX_LABEL = 64
_SCORE_SAMPLE = 64 * 1024

# Labels that name no charset, or name one that is really a spoof, map to None: detection decides.
_BOGUS_LABELS = frozenset(
    {"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "charset", "none", "binary"}
)
# Codecs that are text encodings to Python but never a mail charset; decoding with them is a trick.
_REFUSED_CODECS = frozenset(
    {
        "undefined",
        "idna",
        "punycode",
        "unicode-escape",
        "raw-unicode-escape",
        "unicode_escape",
        "raw_unicode_escape",
        "utf-8-sig",
        "mbcs",
        "oem",
        "palmos",
    }
)
_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "s-jis": "cp932",
    "ms_kanji": "cp932",
    "ms-kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "cswindows31j": "cp932",
    "x-ms-cp932": "cp932",
    "cp932": "cp932",
    "ibm-943": "cp932",
    "shift_jisx0213": "cp932",
    "shift_jis_2004": "cp932",
    "euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "x-euc": "euc_jp",
    "cseucpkdfmtjapanese": "euc_jp",
    "eucjp-ms": "euc_jp",
    "euc-jisx0213": "euc_jp",
    "euc_jis_2004": "euc_jp",
    "cp51932": "euc_jp",
    "iso-2022-jp": "iso2022_jp",
    "csiso2022jp": "iso2022_jp",
    "iso2022-jp": "iso2022_jp",
    "jis": "iso2022_jp",
    "iso-2022-jp-1": "iso2022_jp",
    "iso-2022-jp-2": "iso2022_jp",
    "iso-2022-jp-3": "iso2022_jp",
    "iso-2022-jp-2004": "iso2022_jp",
    "iso-2022-jp-ms": "iso2022_jp",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
    "cp50222": "iso2022_jp",
    "x-iso-2022-jp": "iso2022_jp",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gb18030": "gb18030",
    "x-gb2312": "gb18030",
    "windows-936": "gb18030",
    "big5": "cp950",
    "big-5": "cp950",
    "x-big5": "cp950",
    "csbig5": "cp950",
    "cn-big5": "cp950",
    "big5-hkscs": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "ks_c_5601": "cp949",
    "korean": "cp949",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "x-utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso646-us": "ascii",
    "646": "ascii",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "l1": "cp1252",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "iso_8859-1": "cp1252",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
}
_ISO2022_CHAIN = ("iso2022_jp", "iso2022_jp_ms", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_jp_2")
_FAMILY_FALLBACKS = {
    "cp932": ("cp932", "shift_jis_2004"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "gb18030": ("gb18030",),
    "cp950": ("cp950", "big5hkscs"),
    "cp949": ("cp949",),
}
_SINGLE_BYTE_WESTERN = frozenset({"ascii", "cp1252", "iso8859-1", "iso8859-15"})
_ASCII_COMPATIBLE_FAST = frozenset(
    {
        "ascii",
        "utf-8",
        "cp932",
        "euc_jp",
        "iso2022_jp",
        "gb18030",
        "cp950",
        "big5hkscs",
        "cp949",
        "cp1252",
        "iso8859-1",
        "iso8859-15",
        "koi8-r",
        "cp1251",
    }
)
_NOT_ASCII_COMPATIBLE = frozenset(
    {
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        "utf-7",
        "cp037",
        "cp500",
        "cp1140",
        "cp875",
        "cp1026",
        "cp424",
        "cp273",
        "hz",
        "iso2022_kr",
    }
)
_ESC_JP = re.compile(rb"\x1b(?:\$[@B]|\$\([OPQD]|\([BJI])")


def normalise_charset(label: str | None) -> str | None:
    """A declared charset label → the Python codec we decode it with, or None for no, unknown or bogus labels."""
    if label is None:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if len(name) > _MAX_LABEL or name in _BOGUS_LABELS:
        return None
    if name.startswith("x-") and name[2:] in _ALIASES:
        name = name[2:]
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # bytes.decode refuses bytes-to-bytes codecs anyway; this also keeps rot13 and friends out of reports
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return _ALIASES.get(info.name, info.name)


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str]:
    """Decode `data` as text, using `declared` as a hint. Returns (text, charset actually used). Never raises."""
    try:
        return _decode(bytes(data), normalise_charset(declared))
    except Exception:  # decoding hostile bytes must never stop the parse
        return bytes(data).decode("latin-1"), "iso8859-1"


def _try(data: bytes, codec: str) -> str | None:
    try:
        if codec == "iso2022_jp_ms":
            return _decode_iso2022jp_ms(data, strict=True)
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def _decode(data: bytes, codec: str | None) -> tuple[str, str]:
    if not data:
        return "", codec or "ascii"
    has_esc = b"\x1b" in data
    if data.isascii() and not has_esc and (codec is None or codec in _ASCII_COMPATIBLE_FAST):
        return data.decode("ascii"), codec or "ascii"
    if codec is None:
        return _detect(data)
    if codec == "iso2022_jp":
        return _decode_iso2022(data)
    if codec == "utf-8":
        return _decode_utf8(data)
    if codec in _SINGLE_BYTE_WESTERN:
        return _decode_western(data, codec)
    if codec not in _NOT_ASCII_COMPATIBLE:
        # UTF-8 sent under a legacy label is common; legacy text that is valid UTF-8 by chance is not
        utf8 = _try(data, "utf-8")
        if utf8 is not None and len(data) - len(utf8) >= 4:
            return utf8, "utf-8"
    for candidate in _FAMILY_FALLBACKS.get(codec, (codec,)):
        text = _try(data, candidate)
        if text is not None:
            return text, candidate
    if codec in _FAMILY_FALLBACKS:
        # A CJK label that does not fit: a different Japanese encoding is the usual story.
        text, used = _detect(data, allow_latin=False)
        if used:
            return text, used
    return data.decode(codec, errors="replace"), codec


def _decode_iso2022(data: bytes) -> tuple[str, str]:
    if not data.isascii() and not _ESC_JP.search(data):
        # 8-bit bytes and no escape sequence: Shift_JIS (or UTF-8) sent with an ISO-2022-JP label
        text, used = _detect(data, allow_latin=False)
        return (text, used) if used else _detect(data)
    for candidate in _ISO2022_CHAIN:
        decoded = _try(data, candidate)
        if decoded is not None:
            return decoded, candidate
    return _decode_iso2022jp_ms(data, strict=False), "iso2022_jp_ms"


def _decode_utf8(data: bytes) -> tuple[str, str]:
    codec = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    text = _try(data, codec)
    if text is not None:
        return text, "utf-8"
    replaced = data.decode(codec, errors="replace")
    # a stray bad byte stays UTF-8; a body that is mostly invalid is another encoding with the wrong label
    if replaced.count("\ufffd") * 50 > len(replaced):
        text, used = _detect(data, allow_latin=False)
        if used:
            return text, used
    return replaced, "utf-8"


def _decode_western(data: bytes, codec: str) -> tuple[str, str]:
    # "iso-8859-1" and "us-ascii" are what careless senders put on anything; believe the bytes first
    text = _try(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    japanese = _japanese_over_latin(data)
    if japanese is not None:
        return japanese
    if codec == "ascii":
        codec = "cp1252"
    text = _try(data, codec)
    if text is not None:
        return text, codec
    return data.decode("latin-1"), "iso8859-1"


def _detect(data: bytes, *, allow_latin: bool = True) -> tuple[str, str]:
    """No usable label: ISO-2022-JP by its escapes, then UTF-8, then the better of CP932 / EUC-JP, then Latin-1.

    With `allow_latin=False` returns ("", "") instead of the Latin-1 guess, so the caller keeps its own label.
    """
    if data.isascii():
        if _ESC_JP.search(data):
            for candidate in _ISO2022_CHAIN:
                text = _try(data, candidate)
                if text is not None:
                    return text, candidate
            return _decode_iso2022jp_ms(data, strict=False), "iso2022_jp_ms"
        return data.decode("ascii"), "ascii"
    text = _try(data, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    if text is not None:
        return text, "utf-8"
    if not allow_latin:
        japanese, used = _detect_japanese(data)
        return (japanese, used) if japanese is not None and _japanese_score(japanese) > 0 else ("", "")
    best = _japanese_over_latin(data)
    if best is not None:
        return best
    text = _try(data, "cp1252")
    if text is not None:
        return text, "cp1252"
    return data.decode("latin-1", errors="replace"), "iso8859-1"


def _japanese_over_latin(data: bytes) -> tuple[str, str] | None:
    """The Japanese reading of 8-bit bytes, unless a Western single-byte reading is more plausible."""
    japanese, used = _detect_japanese(data)
    if japanese is None:
        return None
    latin = _try(data, "cp1252")
    if latin is None or _japanese_score(japanese) > _latin_score(latin):
        return japanese, used
    return None


def _detect_japanese(data: bytes) -> tuple[str | None, str]:
    """CP932 and EUC-JP overlap: both often decode the same bytes. Keep the one that reads more like Japanese."""
    best: tuple[str | None, str] = (None, "")
    best_score = -(10**9)
    for candidate in ("cp932", "euc_jp", "euc_jis_2004"):
        if candidate == "euc_jis_2004" and best[0] is not None:
            break
        text = _try(data, candidate)
        if text is None:
            continue
        sc = _japanese_score(text)
        if sc > best_score:
            best, best_score = (text, candidate), sc
    return best


# The scores below count characters with patterns (C speed) rather than looping over up to 64K characters in
# Python: each is the sum of per-character weights, so counting each class gives the same number.
_HIRAGANA = re.compile(r"[\u3040-\u309f]+")
_JAPANESE = re.compile(r"[\u30a0-\u30ff\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]+")
_HALF_WIDTH_KANA = re.compile(r"[\uff61-\uff9f]+")
_NEAR_ASCII_LETTER = re.compile(r"(?<=[A-Za-z])[^\x00-\x7f]|[^\x00-\x7f](?=[A-Za-z])")


def _non_ascii_count(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _class_count(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def _japanese_score(text: str) -> int:
    """Positive when the non-ASCII characters look like ordinary Japanese, negative when they look like mojibake:
    hiragana (the surest sign of Japanese) +3, katakana, kanji, CJK punctuation and full-width forms +1,
    half-width katakana (rare in real mail, common in mis-decoded bytes) -2, any other non-ASCII character -1."""
    sample = text[:_SCORE_SAMPLE]
    if sample.isascii():
        return 0
    hiragana = _class_count(_HIRAGANA, sample)
    japanese = _class_count(_JAPANESE, sample)
    half_width = _class_count(_HALF_WIDTH_KANA, sample)
    other = _non_ascii_count(sample) - hiragana - japanese - half_width
    return 3 * hiragana + japanese - 2 * half_width - other


def _latin_score(text: str) -> int:
    """Positive when the non-ASCII characters are accented letters inside words (café, Größe), negative when
    they are the symbol soup that Japanese bytes turn into under a Western code page: +1 for a letter next to an
    ASCII letter, -1 for any other non-ASCII character."""
    sample = text[:_SCORE_SAMPLE]
    if sample.isascii():
        return 0
    in_words = sum(1 for m in _NEAR_ASCII_LETTER.finditer(sample) if m.group().isalpha())
    return 2 * in_words - _non_ascii_count(sample)


def _jis_to_sjis(c1: int, c2: int) -> bytes:
    s1 = ((c1 + 1) >> 1) + (0x70 if c1 <= 0x5E else 0xB0)
    s2 = c2 + (0x1F if c2 <= 0x5F else 0x20) if c1 & 1 else c2 + 0x7E
    return bytes((s1, s2))


def _decode_iso2022jp_ms(data: bytes, *, strict: bool) -> str:
    """ISO-2022-JP as Microsoft sends it (CP50220/50221/50222): JIS rows are mapped to CP932, which has the NEC
    and IBM extensions (①, ㈱, 髙) that no stdlib ISO-2022-JP codec accepts under ESC $ B.

    Only the escape sequences Microsoft emits are understood; anything else fails in strict mode.
    """
    out: list[str] = []
    buf = bytearray()
    errors = "strict" if strict else "replace"

    def flush() -> None:
        if buf:
            out.append(buf.decode("cp932", errors=errors))
            buf.clear()

    mode = "ascii"
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B:
            seq = data[i + 1 : i + 3]
            if seq in (b"$B", b"$@"):
                mode, i = "jis", i + 3
                continue
            if seq in (b"(B", b"(J"):
                mode, i = "ascii", i + 3
                continue
            if seq == b"(I":
                mode, i = "kana", i + 3
                continue
            if strict:
                raise UnicodeDecodeError("iso2022_jp_ms", data, i, i + 1, "unsupported escape sequence")
            flush()
            out.append("\ufffd")
            i += 1
            continue
        if b == 0x0E:  # SO: JIS X 0201 katakana (CP50222)
            mode, i = "kana", i + 1
            continue
        if b == 0x0F:
            mode, i = "ascii", i + 1
            continue
        if b >= 0x80:
            if strict:
                raise UnicodeDecodeError("iso2022_jp_ms", data, i, i + 1, "8-bit byte")
            flush()
            out.append("\ufffd")
            i += 1
            continue
        if mode == "jis" and 0x21 <= b <= 0x7E:
            if i + 1 < n and 0x21 <= data[i + 1] <= 0x7E:
                buf += _jis_to_sjis(b, data[i + 1])
                i += 2
                continue
            if strict:
                raise UnicodeDecodeError("iso2022_jp_ms", data, i, i + 1, "truncated double-byte character")
            flush()
            out.append("\ufffd")
            i += 1
            continue
        if mode == "kana" and 0x21 <= b <= 0x5F:
            buf.append(b + 0x80)
            i += 1
            continue
        buf.append(b)
        i += 1
    flush()
    return "".join(out)


# -- transfer encodings ----------------------------------------------------------------------------------------

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_PAD = re.compile(rb"=+")


def decode_base64_lenient(data: bytes) -> bytes:
    """Base64 the way a forgiving mail client reads it: junk skipped, missing padding tolerated, concatenated
    chunks ("QQ==QQ==") decoded one after another, and a dangling last character dropped."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        pass
    if b"\n" in data or b"\r" in data:
        # the usual body: valid base64 in lines; dropping the line breaks is all the cleaning it needs
        try:
            return binascii.a2b_base64(data.translate(None, b"\r\n"), strict_mode=True)
        except binascii.Error:
            pass
    cleaned = _B64_JUNK.sub(b"", data)
    out = bytearray()
    for chunk in _B64_PAD.split(cleaned):
        usable = len(chunk) - (len(chunk) % 4 == 1)  # one stray character cannot carry a byte
        if usable <= 0:
            continue
        piece = chunk[:usable]
        piece += b"=" * (-len(piece) % 4)
        try:
            out += binascii.a2b_base64(piece)
        except binascii.Error:
            continue
    return bytes(out)


def to_bytes(text: str) -> bytes:
    """Recover the bytes behind a header string: surrogate escapes are raw bytes, code points < 256 are bytes
    (RFC 2231 percent-decoding gives those), anything else is UTF-8."""
    try:
        return text.encode("latin-1", errors="surrogateescape")
    except UnicodeEncodeError:
        out = bytearray()
        for ch in text:
            o = ord(ch)
            if o < 0x100:
                out.append(o)
            elif 0xDC80 <= o <= 0xDCFF:
                out.append(o - 0xDC00)
            else:
                out += ch.encode("utf-8", errors="replace")
        return bytes(out)


def has_surrogates(text: str) -> bool:
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text) if not text.isascii() else False


# -- headers ---------------------------------------------------------------------------------------------------

# Encoded text cannot hold "?" (RFC 2047 §4), so `[^?]*` keeps the scan linear on hostile input.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,64})(?:\*[^?]{0,32})?\?([bBqQ])\?([^?]*)\?=")
# Unfolding is "\r?\n[ \t]*" or a lone "\r" → one space; done as CRLF → LF first, then a pattern with a literal
# first character (the regex engine skips to it at C speed; "\r?\n" as the first item made it try every position).
_FOLD = re.compile(r"\n[ \t]*")
_CRLF = re.compile(r"[\r\n]+")


def decode_header_value(raw: str, default_charset: str | None = None) -> str:
    """A header value as text: RFC 2047 encoded-words in any charset, raw 8-bit bytes detected, CR/LF removed.

    `default_charset` is a hint for raw 8-bit bytes (the message's body charset: what mail clients use too).
    """
    return decode_header_with_charsets(raw, default_charset)[0]


def decode_header_with_charsets(raw: str, default_charset: str | None = None) -> tuple[str, tuple[str, ...]]:
    """Like `decode_header_value`, also returning the charsets the encoded-words declared (lower-case)."""
    try:
        return _decode_header(str(raw), default_charset)
    except Exception:  # a header must never stop the parse
        text = str(raw)[:MAX_HEADER_INPUT].encode("utf-8", errors="replace").decode("utf-8", errors="replace")
        return _CRLF.sub("", text), ()


def _decode_header(raw: str, hint: str | None) -> tuple[str, tuple[str, ...]]:
    value = raw[:MAX_HEADER_INPUT]
    if value.isascii() and "=?" not in value and "\n" not in value and "\r" not in value:
        return value, ()  # most header values: nothing to unfold or decode
    if "\n" in value or "\r" in value:
        value = _unfold(value)
    if "=?" not in value:  # the common case: plain ASCII, or raw 8-bit text
        return _strip_crlf(_plain(value, hint)), ()
    parts = _ENCODED_WORD.split(value)
    run = _one_run(parts)
    if run is not None:
        label, data = run
        text = _plain(parts[0], hint) + decode_bytes(data, label)[0] + _plain(parts[-1], hint)
        return _strip_crlf(text), (label,)
    declared: list[str] = []
    pieces: list[str] = []
    pending = bytearray()
    pending_label: str | None = None

    def flush() -> None:
        nonlocal pending_label
        if pending_label is not None:
            pieces.append(decode_bytes(bytes(pending), pending_label)[0])
            pending.clear()
            pending_label = None

    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        start = m.start()
        if start != pos:
            between = value[pos:start]
            # whitespace between two encoded-words is not text (RFC 2047 §6.2)
            if pending_label is None or not between.isspace():
                flush()
                pieces.append(_plain(between, hint))
        label, enc, encoded = m.groups()
        label = label.lower()
        if label not in declared and len(declared) < 16:
            declared.append(label)
        encoded_bytes = encoded.encode("ascii") if encoded.isascii() else to_bytes(encoded)
        chunk = decode_base64_lenient(encoded_bytes) if enc in "bB" else binascii.a2b_qp(encoded_bytes, header=True)
        # adjacent words in one charset are joined first: senders split multibyte characters across words
        if pending_label != label:
            flush()
            pending_label = label
        pending += chunk
        pos = m.end()
    flush()
    if pos < len(value):
        pieces.append(_plain(value[pos:], hint))
    return _strip_crlf("".join(pieces)), tuple(declared)


def _one_run(parts: list[str]) -> tuple[str, bytes] | None:
    """(charset, bytes) when a header's encoded-words (`_ENCODED_WORD.split` output: text, then charset, encoding
    and encoded text for each word, then text) are one run the word-by-word loop below would join: one charset,
    only whitespace between the words, ASCII encoded text, valid base64 in each B word (what the lenient decoder
    gives back unchanged). Microsoft's antispam headers are such runs of ~60 words in nearly every message that
    passed through Outlook; this decodes them without the loop's per-word Python work."""
    labels = {label.lower() for label in parts[1::4]}
    if len(labels) != 1:
        return None
    between = "".join(parts[4:-1:4])
    if between and not between.isspace():
        return None
    texts = parts[3::4]
    if not "".join(texts).isascii():
        return None
    encodings = parts[2::4]
    chunks: list[bytes] = []
    start = 0
    try:
        for q_word in [*(i for i, enc in enumerate(encodings) if enc not in "bB"), len(texts)]:
            if q_word > start:
                chunks.append(_base64_words(texts[start:q_word]))
            if q_word < len(texts):
                chunks.append(binascii.a2b_qp(texts[q_word].encode("ascii"), header=True))
            start = q_word + 1
    except (binascii.Error, ValueError):
        return None
    return labels.pop(), b"".join(chunks)


def _base64_words(texts: list[str]) -> bytes:
    """Consecutive B words decoded, each one strictly (raises binascii.Error on any invalid word). When every word
    is whole 4-character groups and only the last ends in padding, the words are decoded as one string: the same
    groups, so the same bytes, in one call."""
    joined = "".join(texts)
    if not any(n & 3 for n in set(map(len, texts))) and "=" not in joined.rstrip("="):
        return binascii.a2b_base64(joined.encode("ascii"), strict_mode=True)
    return b"".join([binascii.a2b_base64(text.encode("ascii"), strict_mode=True) for text in texts])


def _unfold(value: str) -> str:
    value = _FOLD.sub(" ", value.replace("\r\n", "\n"))
    return value.replace("\r", " ") if "\r" in value else value


def _strip_crlf(text: str) -> str:
    return _CRLF.sub("", text) if "\n" in text or "\r" in text else text


def _plain(text: str, hint: str | None) -> str:
    """Unencoded header text; raw 8-bit bytes arrive as surrogate escapes and are decoded like a body."""
    if text.isascii() or not has_surrogates(text):
        return text
    return decode_bytes(to_bytes(text), hint)[0]
