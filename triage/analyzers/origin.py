"""HEADER_FOREIGN_ORIGIN: traces that a Japanese-language message was written on a Chinese-locale system.

The NPA report and JPCERT/CC describe targeted mail to Japanese organisations composed abroad: the text is
Japanese, but the machine that wrote it leaves its locale behind. One finding per message at most, every reason
an evidence line, the strength that of the strongest reason:

- (a) a Chinese charset (GB2312, GBK, GB18030, Big5, HZ, EUC-CN, CP936…) declared anywhere — a header's
  encoded-word or a part's Content-Type — on a message whose subject or text is Japanese: 1.0. A Chinese
  mailer encodes the kana it is given in its own charset; a Japanese one never picks these.
- (b) the Date header in UTC+08:00 (China, Taiwan, Hong Kong, Singapore, the Philippines) with a Japanese body:
  0.6; with a Received hop stamped +0800 as well: 0.8; a +0800 Received hop alone: 0.4 (a relay abroad says
  less about the writer than the writer's own clock does).
- (c) X-Mailer / User-Agent of a Chinese mail client (rules/lists/foreign_mailers.txt): 0.8 with Japanese
  text, 0.4 without (Chinese mail to Chinese readers is not a targeted attack on Japan, but spam tools forge
  Foxmail and the like, so it still counts a little).
- (d) HTML with Chinese-locale fonts (宋体/SimSun, 微软雅黑/Microsoft YaHei, PMingLiU…) or a zh language tag
  in a Japanese message: 0.6.

"Japanese" means kana: a few kana among mostly hanzi (Chinese marketing uses の for 的) is not Japanese, so
kana must also be a fair share of the CJK characters. Code page 936 inside Office documents is the payload
analyzers' business, not this module's.

Options ([analyzers.origin]): `mailers` (rules path, default "lists/foreign_mailers.txt"), validated in setup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_tz
from pathlib import Path
from typing import TYPE_CHECKING

from triage.errors import ConfigError
from triage.model import Finding, Hop
from triage.names import escape_controls
from triage.plugins import MessageView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = [
    "CHINESE_CHARSETS",
    "ForeignOriginAnalyzer",
    "MailerList",
    "is_japanese",
    "load_mailers",
    "parse_mailers",
    "utc_offset",
]

DEFAULT_MAILERS = "lists/foreign_mailers.txt"
_OPTIONS = frozenset({"mailers"})

# Labels, lower-case, as mailers write them (MIME and WHATWG aliases included): every one names a charset made
# for Chinese. ISO-2022-CN and EUC-TW are rare but as telling.
CHINESE_CHARSETS = frozenset(
    {
        "gb2312",
        "gb_2312",
        "gb_2312-80",
        "gb-2312",
        "csgb2312",
        "x-gb2312",
        "chinese",
        "euc-cn",
        "x-euc-cn",
        "euccn",
        "cn-gb",
        "gbk",
        "x-gbk",
        "cp936",
        "ms936",
        "windows-936",
        "gb18030",
        "hz-gb-2312",
        "hz",
        "big5",
        "big-5",
        "x-big5",
        "cn-big5",
        "csbig5",
        "x-x-big5",
        "big5-hkscs",
        "big5hkscs",
        "cp950",
        "ms950",
        "iso-2022-cn",
        "iso-2022-cn-ext",
        "euc-tw",
        "x-euc-tw",
        "x-mac-chinesesimp",
        "x-mac-chinesetrad",
    }
)

UTC_PLUS_8 = 8 * 3600
STRENGTH_CHARSET = 1.0
STRENGTH_DATE_AND_RECEIVED = 0.8
STRENGTH_DATE = 0.6
STRENGTH_RECEIVED = 0.4
STRENGTH_MAILER_JA = 0.8
STRENGTH_MAILER = 0.4
STRENGTH_HTML = 0.6

# Japanese detection: this many characters of each text are enough to tell, and keep long bodies cheap.
_SAMPLE_CHARS = 4000
_MIN_KANA = 3
_MIN_KANA_SHARE = 0.15  # of kana + han; Japanese prose runs 40-70 %, Chinese text with a stray の far below
_KANA = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fd\u30fe\uff66-\uff9d]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# HTML is read up to here: fonts and lang sit in the head and the first tags.
_HTML_CHARS = 256 * 1024
_FONT_NAMES = (
    "宋体",
    "新宋体",
    "微软雅黑",
    "微軟雅黑",
    "黑体",
    "楷体",
    "楷体_gb2312",
    "仿宋",
    "仿宋_gb2312",
    "等线",
    "新細明體",
    "細明體",
    "微軟正黑體",
    "標楷體",
    "simsun",
    "nsimsun",
    "simhei",
    "simkai",
    "simfang",
    "kaiti",
    "fangsong",
    "microsoft yahei",
    "microsoft jhenghei",
    "dengxian",
    "pmingliu",
    "mingliu",
    "stheiti",
    "stsong",
    "stkaiti",
)
_HTML_ZH = re.compile(
    r"(?:font-family|face)\s*[:=]\s*(?P<fonts>[^;>{}]{1,200})"
    # lang inside a tag only: "lang=zh" in the text of a message is not a language tag
    r"|<[a-z][^<>]{0,300}?[\s\"'](?:xml:)?lang\s*=\s*[\"']?(?P<lang>zh(?:[-_][a-z]{2,4})?)(?![\w-])"
    r"|mso-fareast-language\s*:\s*(?P<fareast>zh-[a-z]{2})",
    re.IGNORECASE,
)
_FONT = re.compile(
    "|".join(re.escape(name).replace(r"\ ", r"\s*") for name in sorted(_FONT_NAMES, key=len, reverse=True)),
    re.IGNORECASE,
)
_MAX_EVIDENCE_VALUE = 120
_MAX_MAILER_LINE = 200
_MAILER_HEADERS = frozenset({"x-mailer", "user-agent"})


@dataclass(frozen=True)
class MailerList:
    """rules/lists/foreign_mailers.txt, compiled for lower-cased header values.

    Plain entries form one alternation of literals (sre skips to the characters that can start one) and have
    their word boundaries checked on a match; `re:` entries form a second alternation.
    """

    entries: tuple[str, ...]
    literals: re.Pattern[str] | None
    expressions: re.Pattern[str] | None

    def search(self, value: str) -> str | None:
        """The part of `value` that names a listed client, or None."""
        text = value.lower()
        if self.literals is not None:
            pos = 0
            while (m := self.literals.search(text, pos)) is not None:
                start, end = m.span()
                pos = start + 1  # a match that is not a whole word may hide one that starts inside it
                # a whole word: an entry's ASCII letter or digit at either end may not touch another one
                clear_before = start == 0 or not (_word_char(text[start - 1]) and _word_char(text[start]))
                clear_after = end == len(text) or not (_word_char(text[end]) and _word_char(text[end - 1]))
                if clear_before and clear_after:
                    return value[start:end] if len(value) == len(text) else m.group(0)
        if self.expressions is not None:
            found = self.expressions.search(text)
            if found:
                return found.group(0)
        return None


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def load_mailers(path: Path) -> MailerList:
    """Read and validate the mailer list; any problem is a ConfigError naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8: {exc}") from exc
    return parse_mailers(lines, str(path))


def parse_mailers(lines: Iterable[str], origin: str) -> MailerList:
    entries: list[str] = []
    literals: list[str] = []
    expressions: list[str] = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if len(entry) > _MAX_MAILER_LINE:
            raise ConfigError(f"{origin}:{number}: entry longer than {_MAX_MAILER_LINE} characters")
        if entry.startswith("re:"):
            source = entry[3:].strip()
            try:
                compiled = re.compile(source, re.IGNORECASE)
            except re.error as exc:
                raise ConfigError(f"{origin}:{number}: invalid regular expression: {exc}") from exc
            if compiled.search(""):
                raise ConfigError(f"{origin}:{number}: the expression matches the empty string")
            expressions.append(f"(?:{source})")
        else:
            literals.append(r"\s+".join(re.escape(word) for word in entry.lower().split()))
        entries.append(entry)
    if not entries:
        raise ConfigError(f"{origin}: no entries")
    literals.sort(key=len, reverse=True)  # the longest entry wins where two start at the same place
    return MailerList(
        entries=tuple(entries),
        literals=re.compile("|".join(literals)) if literals else None,
        expressions=re.compile("|".join(expressions), re.IGNORECASE) if expressions else None,
    )


def is_japanese(texts: Iterable[str]) -> bool:
    """Kana present, and a fair share of the CJK characters: Japanese, not Chinese with a stray の."""
    kana = han = 0
    for text in texts:
        if not text:
            continue
        sample = text[:_SAMPLE_CHARS]
        kana += len(_KANA.findall(sample))
        han += len(_HAN.findall(sample))
    return kana >= _MIN_KANA and kana >= _MIN_KANA_SHARE * (kana + han)


def utc_offset(value: str | None) -> int | None:
    """The zone offset of an RFC 5322 date in seconds, or None when there is none or it cannot be read."""
    if not value:
        return None
    try:
        parsed = parsedate_tz(value[:256])
    except Exception:  # the stdlib parser has raised on odd input before; a date is never worth a crash
        return None
    if parsed is None:
        return None
    return parsed[9]


def _offset_if_plus_8(value: str | None) -> int | None:
    # parsedate_tz is slow Python and a message carries many Received dates: parse only those that can be +0800
    return utc_offset(value) if value and "+08" in value else None


def _short(value: str, limit: int = _MAX_EVIDENCE_VALUE) -> str:
    text = " ".join(value.split())
    return escape_controls(text if len(text) <= limit else text[: limit - 1] + "…")


class ForeignOriginAnalyzer:
    name = "origin"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "ForeignOriginAnalyzer")

    def __init__(self) -> None:
        self._mailers: MailerList | None = None

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.origin")
        path = options.get("mailers", DEFAULT_MAILERS)
        if not isinstance(path, str) or not path:
            raise ConfigError("[analyzers.origin] mailers must be a path to a list file")
        self._mailers = load_mailers(config.rules_path(path))

    @property
    def mailers(self) -> MailerList:
        if self._mailers is None:
            raise RuntimeError("ForeignOriginAnalyzer.setup() was not called")
        return self._mailers

    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        # Every reason needs a trace first; whether the text is Japanese is asked only when one is found, and
        # at most once, so a message without traces costs a few set and dict look-ups.
        charsets = [c for c in target.charsets if c.strip().lower() in CHINESE_CHARSETS]
        date_offset = _offset_if_plus_8(target.info.date)
        hop = next((h for h in target.info.received if _offset_if_plus_8(h.date) == UTC_PLUS_8), None)
        mailer = self._mailer(target)
        html = target.html[:_HTML_CHARS] if target.html else ""
        if not (charsets or date_offset == UTC_PLUS_8 or hop is not None or mailer or html):
            return []

        subject = target.info.subject or ""
        cache: dict[str, bool] = {}

        def japanese(with_subject: bool) -> bool:
            key = "all" if with_subject else "body"
            if key not in cache:
                texts = (subject, target.text, target.html_text) if with_subject else (target.text, target.html_text)
                cache[key] = is_japanese(texts)
            return cache[key]

        reasons: list[tuple[float, str]] = []
        if charsets and japanese(True):
            names = ", ".join(dict.fromkeys(escape_controls(c) for c in charsets))
            reasons.append((STRENGTH_CHARSET, f"Chinese charset {names} declared on Japanese text"))
        if (date_offset == UTC_PLUS_8 or hop is not None) and japanese(False):
            reasons.append(_zone_reason(target.info.date, date_offset, hop))
        if mailer:
            header, value, entry = mailer
            ja = japanese(True)
            reasons.append(
                (
                    STRENGTH_MAILER_JA if ja else STRENGTH_MAILER,
                    f"{header}: {_short(value)} (Chinese mail client: {escape_controls(entry)})"
                    + ("; Japanese text" if ja else ""),
                )
            )
        if html and japanese(True):
            # the HTML scan is the costliest check here: only Japanese messages pay for it
            reasons.extend((STRENGTH_HTML, line) for line in _html_traces(html))
        if not reasons or _is_delivery_report(target):
            return []
        strength = max(s for s, _ in reasons)
        evidence = tuple(line for _, line in sorted(reasons, key=lambda r: -r[0]))
        return [
            Finding(
                id="HEADER_FOREIGN_ORIGIN",
                artifact=target.artifact,
                analyzer=self.name,
                strength=strength,
                evidence=evidence,
            )
        ]

    def _mailer(self, target: MessageView) -> tuple[str, str, str] | None:
        """(header name, its value, the part naming a listed client) when the message's mailer is Chinese."""
        value = target.x_mailer
        if not value:
            return None
        found = self.mailers.search(value[:512])
        if found is None:
            return None
        # which header said it is looked up only now: walking every header of every message costs more than
        # the rest of this analyzer
        name = next(
            (n.strip() for n, v in target.headers if v == value and n.strip().lower() in _MAILER_HEADERS),
            "X-Mailer",
        )
        return name, value, found


def _is_delivery_report(target: MessageView) -> bool:
    """A bounce (multipart/report) is written by a mail server in its own locale, not by whoever sent the mail:
    an Exchange server set up for Chinese writes its Japanese NDR text in GB2312."""
    content_type = next((v for n, v in target.headers if n.strip().lower() == "content-type"), "")
    return content_type.strip().lower().startswith("multipart/report")


def _zone_reason(date: str | None, offset: int | None, hop: Hop | None) -> tuple[float, str]:
    parts: list[str] = []
    if offset == UTC_PLUS_8:
        parts.append(f"Date in UTC+08:00 (China/Taiwan/HK/SG/PH): {_short(date or '')}")
    if hop is not None:
        where = f" by {_short(hop.by, 80)}" if hop.by else ""
        parts.append(f"Received hop{where} stamped UTC+08:00: {_short(hop.date or '')}")
    if offset == UTC_PLUS_8 and hop is not None:
        strength = STRENGTH_DATE_AND_RECEIVED
    elif offset == UTC_PLUS_8:
        strength = STRENGTH_DATE
    else:
        strength = STRENGTH_RECEIVED
    return strength, "; ".join(parts) + "; Japanese body"


def _html_traces(html: str) -> list[str]:
    """Evidence lines for Chinese-locale fonts and language tags in the HTML, each named once."""
    fonts: dict[str, None] = {}
    langs: dict[str, None] = {}
    for m in _HTML_ZH.finditer(html):
        if m.group("fonts"):
            for font in _FONT.finditer(m.group("fonts")):
                fonts.setdefault(" ".join(font.group(0).split()))
        elif m.group("lang"):
            langs.setdefault(f'lang="{m.group("lang")}"')
        elif m.group("fareast"):
            langs.setdefault(f"mso-fareast-language:{m.group('fareast')}")
        if len(fonts) + len(langs) >= 8:
            break
    lines: list[str] = []
    if fonts:
        lines.append("HTML fonts of Chinese locale: " + ", ".join(escape_controls(f) for f in fonts))
    if langs:
        lines.append("HTML language tag of Chinese locale: " + ", ".join(escape_controls(x) for x in langs))
    return lines
