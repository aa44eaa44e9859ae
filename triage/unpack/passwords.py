"""Archive password candidates, found in the message's own text (標的型メール put the password in the body).

`password_candidates` reads texts such as ``[("body", text), ("html", text), ("subject", text)]`` and returns
candidates in the order worth trying: the analyst's ``extra`` passwords, then values written after a cue word
(quoted before unquoted), then password-like tokens on cue lines, then quoted tokens anywhere, then the site's
``wordlist``. Text is folded with NFKC so ``ＡＢＣ１２３`` is found as ``ABC123``; the raw full-width form follows
it as its own candidate because some archivers take the password as typed. Each candidate found after a cue also
carries what the words before the cue say it opens (``hint``: "archive" for 解凍/ZIP/添付, "document" for
文書/Word/PDF), so a mail giving one password for the ZIP and one for the document inside has each container try
its own first (`trials.in_order_for`).

Everything here is linear in the text: all cue words are found in one pass by a regex shaped as their trie, on
an NFKC-folded, lower-cased copy; every other regex starts with a literal and has a bounded body (no nested
quantifiers); the number of cue hits, lines and tokens examined per text is capped.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from triage.errors import ConfigError
from triage.plugins import PasswordCandidate

MAX_PASSWORD_CHARS = 64

# The shipped cue words; rules/lists/password_keywords.txt holds the same list for sites to extend.
DEFAULT_CUES: tuple[str, ...] = (
    "パスワード",
    "パスワ一ド",  # 一 (kanji "one") for ー: a common mistyping, and a tell of non-native writers
    "パスワ-ド",
    "パスワ―ド",
    "パスワ—ド",
    "パスワ‐ド",
    "パスワド",
    "解凍パスワード",
    "解凍用パスワード",
    "ZIPパスワード",
    "ZIPファイルのパスワード",
    "解凍キー",
    "解凍用キー",
    "解凍コード",
    "暗証番号",
    "パスコード",
    "パス",
    "キー",
    "鍵",
    "合言葉",
    "password",
    "passwd",
    "passcode",
    "pass",
    "pwd",
    "pw",
    "p/w",
    "p.w.",
    "密码",  # Chinese: lures written by non-Japanese speakers sometimes keep it
    "密碼",
    "비밀번호",
    "senha",  # Portuguese and Spanish: malspam campaigns reuse their templates
    "contraseña",
)

# Opening quote → closing quote, in NFKC-folded form (（ becomes ( and so on).
_QUOTES: Mapping[str, str] = MappingProxyType(
    {
        "「": "」",
        "『": "』",
        "【": "】",
        "“": "”",
        "‘": "’",
        '"': '"',
        "'": "'",
        "(": ")",
        "[": "]",
        "{": "}",
        "<": ">",
        "〔": "〕",
        "《": "》",
        "〈": "〉",
        "«": "»",
        "〝": "〟",
    }
)
_CLOSERS = frozenset(_QUOTES.values()) - {'"', "'"}
_TRUE_QUOTES = frozenset("「『“‘\"'〝《")
# Characters that join a cue to its value: "パスワード：", "PW=", "パスワードは", "password is".
_JOINERS = frozenset(":=はが、,→⇒")
_JOIN_WORDS = ("is", "was", "are")
_DASHES = frozenset("-–—―~〜")
_DEFERRED = ("別途", "別メール", "別のメール", "後ほど", "のちほど", "追って", "改めて", "後日", "separate", "later")
_NEXT_LINE_LOOKAHEAD = 3
_MAX_ANNOTATION = 30
_LEADING_BULLETS = " >・→⇒■□●○◆◇▼▽▶►*:"
_TRAILING_PUNCT = "。、.,"
# English words that follow a cue in prose ("password for the file ...") and are never the value.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "be",
        "below",
        "follows",
        "following",
        "for",
        "has",
        "have",
        "here",
        "in",
        "is",
        "it",
        "not",
        "of",
        "on",
        "please",
        "protected",
        "required",
        "sent",
        "separately",
        "that",
        "the",
        "this",
        "to",
        "was",
        "will",
        "with",
        "you",
        "your",
    }
)
_ASCII_RUN = re.compile(r"[!-~]+")
# Quoted tokens anywhere in the text: each alternative starts with a literal and its body is bounded.
_QUOTED_ANYWHERE = re.compile(
    r"「([!-~]{4,64})」|『([!-~]{4,64})』|【([!-~]{4,64})】|“([!-~]{4,64})”|‘([!-~]{4,64})’"
    r"|\"([!#-~]{4,64})\"|'([!-&(-~]{4,64})'"
)
# Bounds the work on a hostile text that repeats cue words: past this many hits the rest is not read.
_MAX_CUE_HITS = 2_000  # per text; a real mail has a few dozen
_MAX_LOOSE_TOKENS = 2_000  # quoted tokens examined per text
_MAX_LINE_TOKENS = 64  # loose tokens examined per cue line
_RAW_WINDOW = 4096
# Stripped from both ends of a loose token on a cue line: the joiners and quotes around it, not its content.
_LOOSE_EDGES = ":=\"'()[]{}<>,;"


@dataclass(frozen=True)
class _Cue:
    folded: str
    ascii_word: bool  # needs an ASCII word boundary: "pass" must not fire inside "passport"
    kana_edges: tuple[bool, bool]  # starts / ends with katakana: "パス" must not fire inside "パスポート"


@dataclass(frozen=True)
class _CueSet:
    pattern: re.Pattern[str] | None
    by_word: Mapping[str, _Cue]


_Entry = tuple[str, str, str]  # value, source, hint


@dataclass
class _Tiers:
    """Candidates by rank while one call collects them; lives only inside password_candidates."""

    quoted: list[_Entry] = field(default_factory=list)
    after_cue: list[_Entry] = field(default_factory=list)
    on_cue_line: list[_Entry] = field(default_factory=list)
    quoted_anywhere: list[_Entry] = field(default_factory=list)
    strong: set[str] = field(default_factory=set)  # distinct values in the two cue tiers

    def add(self, tier: list[_Entry], value: str, source: str, hint: str = "") -> None:
        tier.append((value, source, hint))
        if tier is self.quoted or tier is self.after_cue:
            self.strong.add(value)


def load_cue_words(path: str | Path) -> tuple[str, ...]:
    """Cue words from a list file: one per line, ``#`` starts a comment line. For the engine to load once."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the password keyword list: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: the password keyword list is not UTF-8") from exc
    return tuple(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))


def password_candidates(
    texts: Sequence[tuple[str, str]],
    *,
    wordlist: Sequence[str],
    extra: Sequence[str],
    limit: int,
    cues: Sequence[str] | None = None,
) -> list[PasswordCandidate]:
    """Password candidates, best first, deduplicated, at most `limit`, each at most 64 characters."""
    if limit <= 0:
        return []
    cue_list = _prepare_cues(DEFAULT_CUES if cues is None else cues)
    tiers = _Tiers()
    for source, text in texts:
        # Past `limit` distinct values after cues, nothing later could rank into the result.
        if text and len(tiers.strong) < limit:
            _scan_text(source, text, cue_list, tiers, limit)
    ordered: list[_Entry] = [(v, "cli", "") for v in extra]
    ordered += tiers.quoted + tiers.after_cue + tiers.on_cue_line + tiers.quoted_anywhere
    ordered += [(v, "list", "") for v in wordlist]

    out: list[PasswordCandidate] = []
    seen: set[str] = set()
    for value, source, hint in ordered:
        if not value or len(value) > MAX_PASSWORD_CHARS or value in seen:
            continue
        seen.add(value)
        out.append(PasswordCandidate(value=value, source=source, hint=hint))
        if len(out) >= limit:
            break
    return out


# -- what a password opens ----------------------------------------------------------------------------------------

# Words before a cue that say what its password opens, NFKC-folded and lower-cased. "添付" counts as the archive:
# in a mail with two passwords the attachment is the outer container and the document sits inside it.
_ARCHIVE_WORDS = ("zip", "7z", "rar", "lzh", "解凍", "圧縮", "展開", "アーカイブ", "書庫", "添付", "archive")
_DOCUMENT_WORDS = (
    "文書",
    "ドキュメント",
    "ワード",
    "エクセル",
    "パワーポイント",
    "word",
    "excel",
    "powerpoint",
    "docx",
    "xlsx",
    "pptx",
    ".doc",
    ".xls",
    ".ppt",
    "pdf",
    "閲覧",
    "document",
)


def hint_of(context: str) -> str:
    """What the words before a cue, and the cue, say it opens: "archive", "document", or "" (neither, or both)."""
    # The cue's own "パスワード" holds "ワード" (Word): only what else is written counts.
    folded = _fold(unicodedata.normalize("NFKC", context)).replace("パスワード", " ")
    archive = any(_has_word(folded, word) for word in _ARCHIVE_WORDS)
    document = any(_has_word(folded, word) for word in _DOCUMENT_WORDS)
    if archive == document:
        return ""
    return "archive" if archive else "document"


def _has_word(text: str, word: str) -> bool:
    """`word` in `text`; an ASCII word only between non-alphanumerics ("word" is not in "password")."""
    if not word.isascii():
        return word in text
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum()):
            return True
        start = text.find(word, start + 1)
    return False


# -- folding and cue words ---------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower-case without changing the length, so positions in the folded copy index the NFKC text too."""
    # U+0130 is the only code point whose lower() is two characters long.
    return text.replace("\u0130", "I").lower()


def _is_katakana(ch: str) -> bool:
    return "\u30a1" <= ch <= "\u30fa"


def _prepare_cues(cues: Iterable[str]) -> _CueSet:
    by_word: dict[str, _Cue] = {}
    for cue in cues:
        folded = _fold(unicodedata.normalize("NFKC", cue).strip())
        if not folded or len(folded) > MAX_PASSWORD_CHARS or folded in by_word:
            continue
        by_word[folded] = _Cue(
            folded=folded,
            ascii_word=folded.isascii(),
            kana_edges=(_is_katakana(folded[0]), _is_katakana(folded[-1])),
        )
    if not by_word:
        return _CueSet(None, by_word)
    # re caches compiled patterns, so the same cue list costs one compile per process.
    return _CueSet(re.compile(_trie_regex(by_word)), by_word)


def _trie_regex(words: Iterable[str]) -> str:
    """One regex for many words, shaped as their trie: a search tries a few branches per position, not
    one per word, and finds the longest word at the leftmost place ("解凍パスワード" before "パス")."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


def _cue_at(cue: _Cue, text: str, start: int) -> bool:
    end = start + len(cue.folded)
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if cue.ascii_word:
        return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())
    if cue.kana_edges[0] and before and _is_katakana(before):
        return False
    return not (cue.kana_edges[1] and after and (_is_katakana(after) or after == "ー"))


# -- one text ----------------------------------------------------------------------------------------------------


def _scan_text(source: str, text: str, cues: _CueSet, tiers: _Tiers, limit: int) -> None:
    norm = unicodedata.normalize("NFKC", text)
    folded = _fold(norm)
    norm_lines = norm.splitlines()
    raw_lines = text.splitlines()
    if len(raw_lines) != len(norm_lines):  # never seen; without a line match the raw forms are skipped
        raw_lines = norm_lines
    starts: list[int] = []
    pos = 0
    for line in norm.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)

    hits: dict[int, list[tuple[int, int]]] = {}
    pos = 0
    for _ in range(_MAX_CUE_HITS if cues.pattern is not None else 0):
        match = cues.pattern.search(folded, pos) if cues.pattern is not None else None
        if match is None:
            break
        at = match.start()
        if _cue_at(cues.by_word[match.group()], folded, at):
            idx = bisect_right(starts, at) - 1
            col = at - starts[idx]
            hits.setdefault(idx, []).append((col, col + len(match.group())))
            pos = match.end()
        else:
            pos = at + 1

    cue_lines = set(hits)
    for idx in sorted(hits):
        _scan_cue_line(source, idx, hits[idx], norm_lines, raw_lines, cue_lines, tiers)
        if len(tiers.strong) >= limit:
            break

    for n, match in enumerate(_QUOTED_ANYWHERE.finditer(norm)):
        if n >= _MAX_LOOSE_TOKENS:
            break
        value = next(g for g in match.groups() if g is not None)
        if _looks_like_password(value):
            tiers.add(tiers.quoted_anywhere, value, source)


def _scan_cue_line(
    source: str,
    idx: int,
    spans: list[tuple[int, int]],
    norm_lines: list[str],
    raw_lines: list[str],
    cue_lines: set[int],
    tiers: _Tiers,
) -> None:
    line = norm_lines[idx]
    raw = _RawLine(raw_lines[idx], line)
    spans = _drop_cues_in_values(line, spans)
    look_below = False
    below_hint = ""
    line_hint = hint_of(line)  # for loose tokens: "The password for the Word file is s3cr3t"
    for n, (_, end) in enumerate(spans):
        stop = spans[n + 1][0] if n + 1 < len(spans) else len(line)
        # what this cue opens is said between the previous cue's value and this cue: "ZIP: a / PDF: b"
        hint = hint_of(line[spans[n - 1][1] if n else 0 : end])
        found = _value_after(line, end, stop)
        if found.value is not None:
            _add(tiers, tiers.quoted if found.quoted else tiers.after_cue, found.value, source, raw, found.at, hint)
        elif found.look_below:
            look_below, below_hint = True, below_hint or hint
    if look_below and not any(marker in _fold(line) for marker in _DEFERRED):
        _next_line_value(source, idx, norm_lines, raw_lines, cue_lines, tiers, below_hint)

    # Password-like tokens elsewhere on the line: "The password for the attachment is: s3cr3t".
    masked = list(line)
    for start, end in spans:
        masked[start:end] = " " * (end - start)
    for n, match in enumerate(_ASCII_RUN.finditer("".join(masked))):
        if n >= _MAX_LINE_TOKENS:
            break
        token = match.group()
        trimmed = token.lstrip(_LOOSE_EDGES)
        token = _clean(trimmed).rstrip(_LOOSE_EDGES)
        if _looks_like_password(token):
            at = match.start() + len(match.group()) - len(trimmed)
            _add(tiers, tiers.on_cue_line, token, source, raw, at, line_hint)


def _drop_cues_in_values(line: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cue words that are the start of the previous cue's value ("パスワード：pass-7731") are not cues."""
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        if kept:
            gap = line[kept[-1][1] : start]
            if gap.strip(" \t") and not gap.strip(" \t:=") and gap.count(":") + gap.count("=") == 1:
                continue
        kept.append((start, end))
    return kept


@dataclass(frozen=True)
class _RawLine:
    """A line as written, beside its NFKC form, to recover a value's full-width spelling."""

    raw: str
    norm: str

    def form_of(self, value: str, at: int) -> str | None:
        if self.raw == self.norm:
            return None
        # NFKC keeps most lengths; look near the same place, and give up on lines it changed a lot.
        slack = abs(len(self.raw) - len(self.norm)) + 16
        if slack > _RAW_WINDOW:
            return None
        return _raw_form(value, self.raw[max(0, at - slack) : at + len(value) + 2 * slack])


def _add(tiers: _Tiers, tier: list[_Entry], value: str, source: str, raw: _RawLine, at: int, hint: str = "") -> None:
    tiers.add(tier, value, source, hint)
    form = raw.form_of(value, at)
    if form is not None:
        tiers.add(tier, form, source, hint)


@dataclass(frozen=True)
class _Found:
    value: str | None = None
    quoted: bool = False
    at: int = 0  # where the value starts in the line
    look_below: bool = False  # nothing on this line: the value may stand on the next one


def _value_after(line: str, pos: int, stop: int) -> _Found:
    """The value written after a cue ending at `pos` (and before `stop`, the next cue)."""
    pos = _skip_joiners(line, pos, stop)
    if pos >= stop:
        return _Found(look_below=True)
    ch = line[pos]
    close = _QUOTES.get(ch)
    if close is not None:
        end = line.find(close, pos + 1, min(stop, pos + 2 + MAX_PASSWORD_CHARS))
        if end > pos + 1:
            value = line[pos + 1 : end].strip()
            # Brackets also hold notes ("(半角英数)"); only true quotes may hold a non-ASCII password.
            if value and value.isprintable() and (value.isascii() or ch in _TRUE_QUOTES):
                return _Found(value=value, quoted=True, at=pos + 1)
        pos += 1  # an unclosed quote: read what follows it as an unquoted value
    match = _ASCII_RUN.match(line, pos, stop)
    if match is None:
        # A Japanese sentence follows the cue ("パスワードは以下の通りです。"): maybe the value is below.
        return _Found(look_below=True)
    value = _clean(match.group())
    if not value or value.rstrip(":").lower() in _STOPWORDS:
        rest = line[pos:stop].lower()
        return _Found(look_below=any(w in rest for w in ("below", "follow")))
    return _Found(value=value, at=pos)


def _skip_joiners(line: str, pos: int, stop: int) -> int:
    # One closing bracket right after the cue: "【パスワード】abc", "[PW] abc".
    if pos < stop and line[pos] in _CLOSERS:
        pos += 1
    for _ in range(8):  # bounded: each round consumes at least one character or ends
        start = pos
        while pos < stop and line[pos].isspace():
            pos += 1
        if pos >= stop:
            break
        ch = line[pos]
        if ch in _JOINERS or (ch in _DASHES and pos + 1 < stop and line[pos + 1].isspace()):
            pos += 1
        elif ch in _QUOTES and ch not in "\"'":
            # An annotation such as "パスワード(半角英数)：" is skipped when a joiner follows it.
            close = line.find(_QUOTES[ch], pos + 1, min(stop, pos + 2 + _MAX_ANNOTATION))
            if close < 0:
                break
            after = close + 1
            while after < stop and line[after].isspace():
                after += 1
            if after < stop and line[after] in _JOINERS:
                pos = after + 1
            else:
                break
        else:
            word = _join_word_at(line, pos, stop)
            if word is None:
                break
            pos += len(word)
        if pos == start:
            break
    while pos < stop and line[pos].isspace():
        pos += 1
    return pos


def _join_word_at(line: str, pos: int, stop: int) -> str | None:
    for word in _JOIN_WORDS:
        end = pos + len(word)
        if end < stop and line[pos:end].lower() == word and (line[end].isspace() or line[end] in _JOINERS):
            return word
    return None


def _next_line_value(
    source: str,
    idx: int,
    norm_lines: list[str],
    raw_lines: list[str],
    cue_lines: set[int],
    tiers: _Tiers,
    hint: str = "",
) -> None:
    """The value alone on the next non-empty line: a line "パスワード", then a line "　ABC123"."""
    for j in range(idx + 1, min(len(norm_lines), idx + 1 + _NEXT_LINE_LOOKAHEAD)):
        text = norm_lines[j].strip()
        if not text:
            continue
        if j in cue_lines:
            return
        text = text.lstrip(_LEADING_BULLETS).strip()
        if not text or len(text) > MAX_PASSWORD_CHARS + 4:
            return
        raw = _RawLine(raw_lines[j], norm_lines[j])
        at = norm_lines[j].find(text)
        close = _QUOTES.get(text[0])
        if close is not None and len(text) >= 3 and _clean(text).endswith(close):
            value = _clean(text)[1:-1].strip()
            if value and value.isprintable() and (value.isascii() or text[0] in _TRUE_QUOTES):
                _add(tiers, tiers.quoted, value, source, raw, at + 1, hint)
            return
        value = _clean(text)
        if _ASCII_RUN.fullmatch(value) and value.rstrip(":").lower() not in _STOPWORDS:
            _add(tiers, tiers.after_cue, value, source, raw, at, hint)
        return


# -- values ------------------------------------------------------------------------------------------------------


def _clean(value: str) -> str:
    """Trailing sentence punctuation and unbalanced brackets off: "s3cr3t." → "s3cr3t", "abc)" → "abc"."""
    for _ in range(MAX_PASSWORD_CHARS):
        before = value
        value = value.rstrip(_TRAILING_PUNCT)
        if value and value[-1] in "([{<":
            value = value[:-1]
        for opener, closer in (("(", ")"), ("[", "]"), ("{", "}"), ("<", ">")):
            if value.endswith(closer) and opener not in value:
                value = value[:-1]
        if value == before:
            break
    return value


def _looks_like_password(token: str) -> bool:
    """A loose token worth a guess: digits, or letters mixed with digits or symbols, or unusual casing.
    Prose words ("Please", "site") are not."""
    if not 4 <= len(token) <= MAX_PASSWORD_CHARS or not token.isascii():
        return False
    low = token.lower()
    if "://" in low or low.startswith("www.") or ("@" in low and "." in low):
        return False
    if token.isdigit():
        return True
    has_alpha = any(c.isalpha() for c in token)
    has_digit = any(c.isdigit() for c in token)
    has_symbol = any(not c.isalnum() for c in token)
    if has_digit and (has_alpha or has_symbol):
        return True
    if has_alpha and has_symbol:
        return True
    # Letters only: an upper-case letter after the first ("aBcDeF", "PassWord"), not a capitalised word.
    return has_alpha and any(c.isupper() for c in token[1:]) and any(c.islower() for c in token)


def _raw_form(value: str, raw_line: str) -> str | None:
    """The value as typed in the raw line when that differs (full-width ＡＢＣ１２３ for ABC123)."""
    parts: list[str] = []
    for ch in value:
        if "!" <= ch <= "~":
            parts.append("[" + re.escape(ch) + re.escape(chr(ord(ch) + 0xFEE0)) + "]")
        elif ch == " ":
            parts.append("[ \u3000]")
        else:
            parts.append(re.escape(ch))
    match = re.search("".join(parts), raw_line)
    if match is None or match.group() == value:
        return None
    return match.group()
