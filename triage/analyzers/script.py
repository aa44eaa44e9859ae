"""Scripts (HTA, JS, VBS, WSF, PS1, BAT, encoded): what they do once a user double-clicks them.

A script in mail is already ATTACHMENT_EXECUTABLE by type (triage.analyzers.executable). This analyzer says
what it does, from patterns in rules/lists/script_patterns.toml matched on the text *and* on every layer a
small, bounded de-obfuscator peels off:

- PowerShell ``-EncodedCommand`` (base64 of UTF-16LE), base64 and hex blobs that decode to text (gzip inside
  base64 is inflated, bounded), character codes (``String.fromCharCode``, ``Chr``/``ChrW`` with constants or
  simple arithmetic variables, ``[char]``), junk tokens removed with ``Replace``, string concatenation of literals
  and of variables holding literals, ``StrReverse`` of literals, and batch ``set`` variables expanded
  (DOSfuscation) with carets removed.

Findings (group "payload"):

- SCRIPT_DOWNLOADER: a download primitive (XMLHTTP, WinHttp, WebClient, Invoke-WebRequest, BITS, certutil
  -urlcache, curl…); 1.0 with something that runs what it fetched (Run/Exec/Start-Process/IEX/a LOLBin), else 0.6.
- SCRIPT_LAUNCHER: no download, but it starts an interpreter or LOLBin (powershell, mshta, wscript, rundll32,
  regsvr32, certutil -decode…) at 1.0, or only runs commands (WScript.Shell Run, cmd /c, Execute) at 0.5.
- SCRIPT_OBFUSCATED: the techniques seen; 1.0 when a peeled layer revealed what the script does, or with an
  encoded command, Script Encoder or three techniques; less with fewer.

Script Encoder (``#@~^``, .jse/.vbe) content is flagged, not decoded. URLs from every layer go to the IOCs. The
scanner (`ScriptScanner`) is reused on LNK arguments, CHM pages and OneNote payloads.

Options ([analyzers.script]): ``patterns`` (rules path), ``max_text`` (characters analysed per script),
``max_decoded`` (characters of decoded layers per script).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from triage.analyzers.urls import ip_host, text_urls
from triage.errors import ConfigError
from triage.model import Finding
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml

if TYPE_CHECKING:
    from pathlib import Path

    from triage.config import Config

__all__ = [
    "SCRIPT_TAGS",
    "Hit",
    "Pattern",
    "ScriptAnalyzer",
    "ScriptScan",
    "ScriptScanner",
    "decode_text",
    "load_patterns",
    "script_findings",
]

DEFAULT_PATTERNS = "lists/script_patterns.toml"
DEFAULT_MAX_TEXT = 4 * 1024 * 1024
DEFAULT_MAX_DECODED = 2 * 1024 * 1024
_OPTIONS = frozenset({"patterns", "max_text", "max_decoded"})
KINDS = frozenset({"download", "execute", "launch", "obfuscate"})
# type tags of the scripts Windows runs on double-click
SCRIPT_TAGS = frozenset({"hta", "wsf", "script-js", "script-vbs", "script-ps1", "script-bat", "script-encoded"})

_MAX_LAYERS = 24
_MAX_DEPTH = 4  # decoded-from-decoded
_MAX_BLOBS = 32
_MAX_BLOB_CHARS = 4 * 1024 * 1024
_MAX_CHAINS = 2000
_MAX_ASSIGNMENTS = 20_000
_MAX_BATCH_LINES = 50_000
_MAX_SNIPPET = 80
_MAX_EVIDENCE = 6
_DEADLINE_EVERY = 512

_B64_BLOB = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")
_HEX_BLOB = re.compile(r"(?:[0-9A-Fa-f]{2}){40,}")
# -e, -en, -enc, ... -encodedcommand, and the -ec alias; PowerShell accepts any unambiguous prefix
_PS_ENCODED = re.compile(r"(?i)(?:^|[\s\"'])[-/](e|ec|en[a-z]{0,12})\s+['\"]?([A-Za-z0-9+/]{16,}={0,2})")
_FROMCHARCODE = re.compile(r"(?i)fromcharcode\s*\(([0-9a-fx\s,+\-*]{1,20000})\)")
_CHR_CHAIN = re.compile(r"(?i)(?:chrw?\s*\(\s*[^()\n]{1,40}\)\s*[&+]\s*(?:_\s*\n\s*)?)+chrw?\s*\(\s*[^()\n]{1,40}\)")
_CHR_ONE = re.compile(r"(?i)chrw?\s*\(\s*([^()\n]{1,40})\)")
_PS_CHARS = re.compile(
    r"(?i)(?:\[char\]\s*\(?\s*(?:0x)?[0-9a-f]+\s*\)?\s*[+,]\s*)+\[char\]\s*\(?\s*(?:0x)?[0-9a-f]+\s*\)?"
)
_PS_CHAR_ONE = re.compile(r"(?i)\[char\]\s*\(?\s*((?:0x)?[0-9a-f]+)")
_PS_CHAR_ARRAY = re.compile(r"(?i)\[char\[\]\]\s*\(\s*([0-9\s,]{3,20000})\)")
_ASSIGN = re.compile(
    r"(?im)(?:^|[:;])[ \t]*(?:dim[ \t]+|var[ \t]+|let[ \t]+|const[ \t]+|set[ \t]+)?"
    r"\$?([a-z_]\w{0,63})[ \t]*=[ \t]*([^\n:;=]{1,80}?)[ \t]*(?=$|[:;\r])"
)
_OPERAND = r"(?:&h[0-9a-f]+|0x[0-9a-f]+|\d+|[a-z_]\w*)"
_NUMBER_EXPR = re.compile(rf"(?i)^[\s()]*{_OPERAND}(?:\s*[-+*/\\]\s*[\s()]*{_OPERAND}[\s()]*)*$")
_TOKEN = re.compile(r"(?i)&h[0-9a-f]+|0x[0-9a-f]+|\d+|[a-z_]\w*|[-+*/\\()]")
_STR_LITERAL_ASSIGN = re.compile(
    r"""(?m)(?:^|[;:{\s])(?:var\s+|let\s+|const\s+|dim\s+|set\s+)?\$?([A-Za-z_]\w{0,63})\s*=\s*(?:"([^"\n]{0,200})"|'([^'\n]{0,200})')\s*(?=[;\r\n:]|$)"""
)
_PART = r"""(?:\$?[A-Za-z_]\w{0,63}|"[^"\n]{0,200}"|'[^'\n]{0,200}')"""
_CONCAT_CHAIN = re.compile(rf"(?<![\w$\"']){_PART}(?:\s*[+&]\s*{_PART}){{1,200}}")
_JOIN_HINT = re.compile(r"""["'\w]\s*[+&]\s*["'\w$]""")
_LITERAL_JOIN = re.compile(r"""(["'])\s*[+&]\s*(?:_\s*\r?\n\s*)?\1""")
_REPLACE_CALLS = (
    re.compile(r"""(?i)\.replace\(\s*(['"])(.{1,40}?)\1\s*,\s*(['"])(.{0,40}?)\3\s*\)"""),
    re.compile(r"""(?i)\breplace\(\s*[^,()\n]{1,2000},\s*(")([^"\n]{1,40})"\s*,\s*(")([^"\n]{0,40})"\s*[,)]"""),
    re.compile(r"""(?i)-replace\s*\(?\s*(['"])(.{1,40}?)\1\s*,\s*(['"])(.{0,40}?)\3"""),
)
_STRREVERSE = re.compile(r"""(?i)strreverse\s*\(\s*"([^"\n]{4,2000})"\s*\)""")
_BATCH_SET = re.compile(r"(?i)^\s*@?\s*set\s+(?:/a\s+)?")
_BATCH_VAR = re.compile(r"%([^%\s]{1,64})%")
_CARET_IN_WORD = re.compile(r"[A-Za-z]\^[A-Za-z]")
_SCRIPT_ENCODED = re.compile(r"#@~\^[A-Za-z0-9+/]{6}==")
_WHITESPACE_ODD = re.compile(r"[\x0b\x0c]")
_RUN = re.compile(r"(.)\1{15,}", re.DOTALL)
_SQUEEZE = r"\1\1\1\1\1\1\1\1"
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


# -- patterns -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    id: str
    kind: str
    label: str
    regex: re.Pattern[str]
    needs: tuple[str, ...] = ()  # lower-case substrings, one of which must occur (a fast pre-filter)
    examples: tuple[str, ...] = ()
    counter: tuple[str, ...] = ()


def load_patterns(path: Path) -> tuple[Pattern, ...]:
    """The [[pattern]] tables of a script patterns file; any malformed entry is a ConfigError naming the file."""
    data = read_toml(path)
    unknown = sorted(set(data) - {"pattern"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(unknown)}")
    out: list[Pattern] = []
    seen: set[str] = set()
    for entry in data.get("pattern", []):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: every [[pattern]] must be a table")
        extra = sorted(set(entry) - {"id", "kind", "label", "regex", "needs", "examples", "counter"})
        if extra:
            raise ConfigError(f"{path}: pattern {entry.get('id')!r}: unknown key(s) {', '.join(extra)}")
        pid, kind, label, regex = (entry.get(k) for k in ("id", "kind", "label", "regex"))
        if not all(isinstance(v, str) and v for v in (pid, kind, label, regex)):
            raise ConfigError(f"{path}: pattern {pid!r} needs non-empty id, kind, label and regex strings")
        assert isinstance(pid, str) and isinstance(kind, str) and isinstance(label, str) and isinstance(regex, str)
        if kind not in KINDS:
            raise ConfigError(f"{path}: pattern {pid!r}: kind must be one of {', '.join(sorted(KINDS))}")
        if pid in seen:
            raise ConfigError(f"{path}: pattern id {pid!r} is used twice")
        seen.add(pid)
        try:
            compiled = re.compile(regex, re.IGNORECASE | re.MULTILINE)
        except re.error as exc:
            raise ConfigError(f"{path}: pattern {pid!r}: bad regex: {exc}") from exc
        examples = entry.get("examples", [])
        counter = entry.get("counter", [])
        needs = entry.get("needs", [])
        lists = (examples, counter, needs)
        if not all(isinstance(x, list) and all(isinstance(v, str) and v for v in x) for x in lists):
            raise ConfigError(f"{path}: pattern {pid!r}: needs, examples and counter must be lists of strings")
        if any(n != n.lower() for n in needs):
            raise ConfigError(f"{path}: pattern {pid!r}: needs must be lower-case")
        out.append(Pattern(pid, kind, label, compiled, tuple(needs), tuple(examples), tuple(counter)))
    if not out:
        raise ConfigError(f"{path}: no [[pattern]] entries")
    return tuple(out)


# -- results ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    pattern: str
    kind: str
    label: str
    snippet: str
    layer: str  # "" for the text as written, else how the layer was decoded


@dataclass(frozen=True)
class ScriptScan:
    hits: tuple[Hit, ...]
    techniques: tuple[str, ...]  # obfuscation evidence
    layers: tuple[str, ...]  # how each decoded layer was made
    urls: tuple[str, ...]
    embedded_pe: tuple[str, ...]  # how a Windows executable was found encoded in the text
    strong_obfuscation: bool  # an encoded command, Script Encoder, or a decoded layer that revealed hits

    def kinds(self) -> frozenset[str]:
        return frozenset(h.kind for h in self.hits)


@dataclass(frozen=True)
class _Layer:
    how: str
    text: str
    depth: int


# -- text ---------------------------------------------------------------------------------------------------------
def decode_text(data: bytes, limit: int) -> str:
    """Script bytes as text: UTF-16 by BOM (or by its NUL pattern), else UTF-8, else CP1252-ish latin-1."""
    head = data[: limit * 2]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")[:limit]
    if len(head) >= 64 and head[1:64:2].count(0) > 28 and head[0:64:2].count(0) < 4:
        return head[: limit * 2].decode("utf-16-le", errors="replace")[:limit]
    head = data[:limit]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return head.decode("latin-1")


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return good / len(text)


def _bytes_as_text(raw: bytes) -> str | None:
    """Decoded bytes that read as text (UTF-16LE or UTF-8/latin-1), else None."""
    if len(raw) >= 8 and raw[1::2].count(0) > len(raw) * 0.4:
        text = raw.decode("utf-16-le", errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return text if _printable_ratio(text[:4096]) >= 0.9 else None


# -- arithmetic for Chr() arguments -------------------------------------------------------------------------------
def _eval_number(expr: str, symbols: Mapping[str, int]) -> int | None:
    """A constant integer expression (decimal, &H, 0x, + - * / \\, parentheses, known variables) or None."""
    tokens = _TOKEN.findall(expr)
    if not tokens or len(tokens) > 40:
        return None
    pos = 0

    def atom() -> int | None:
        nonlocal pos
        if pos >= len(tokens):
            return None
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = sum_()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
            return value
        if tok == "-":
            inner = atom()
            return None if inner is None else -inner
        low = tok.lower()
        if low.startswith("&h"):
            return int(low[2:], 16)
        if low.startswith("0x"):
            return int(low[2:], 16)
        if tok.isdigit():
            return int(tok)
        return symbols.get(low)

    def product() -> int | None:
        nonlocal pos
        left = atom()
        while left is not None and pos < len(tokens) and tokens[pos] in ("*", "/", "\\"):
            op = tokens[pos]
            pos += 1
            right = atom()
            if right is None:
                return None
            if op == "*":
                left *= right
            elif right == 0:
                return None
            else:
                left //= right
            if abs(left) > 1 << 32:
                return None
        return left

    def sum_() -> int | None:
        nonlocal pos
        left = product()
        while left is not None and pos < len(tokens) and tokens[pos] in ("+", "-"):
            op = tokens[pos]
            pos += 1
            right = product()
            if right is None:
                return None
            left = left + right if op == "+" else left - right
        return left

    value = sum_()
    return value if pos == len(tokens) else None


def _char(code: int | None) -> str | None:
    if code is None or not 0 < code < 0x110000 or 0xD800 <= code < 0xE000:
        return None
    return chr(code)


# -- the scanner --------------------------------------------------------------------------------------------------
class ScriptScanner:
    """Pattern matching over a script and its decoded layers. Immutable; one per Engine."""

    def __init__(
        self, patterns: Sequence[Pattern] | Callable[[], Sequence[Pattern]], *, max_decoded: int = DEFAULT_MAX_DECODED
    ) -> None:
        # A callable is loaded on first use: mail bodies reach the script analyzer as "text" and most are no
        # script, so a one-off scan need not compile the patterns. `prepare()` loads them now.
        self._patterns: tuple[Pattern, ...] | None = None if callable(patterns) else tuple(patterns)
        self._load = patterns if callable(patterns) else None
        self.max_decoded = max_decoded

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        if self._patterns is None:
            assert self._load is not None
            self._patterns = tuple(self._load())
        return self._patterns

    def prepare(self) -> None:
        """Load the patterns now (start-up checks of a site's files, a gateway worker's warm-up)."""
        _ = self.patterns

    def scan(self, text: str, check_deadline: Callable[[], None], *, batch: bool = False) -> ScriptScan:
        techniques: dict[str, None] = {}
        embedded_pe: dict[str, None] = {}
        strong = False
        layers: list[_Layer] = [_Layer("", text, 0)]
        budget = [self.max_decoded]
        known = {hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()}
        self._measure(text, techniques, batch=batch)
        if _SCRIPT_ENCODED.search(text[:65536]):
            techniques["Script Encoder (#@~^) encoded script, not decoded"] = None
            strong = True
        index = 0
        while index < len(layers) and len(layers) < _MAX_LAYERS:
            check_deadline()
            layer = layers[index]
            index += 1
            if layer.depth >= _MAX_DEPTH:
                continue
            for how, decoded in self._peel(layer.text, check_deadline, embedded_pe, batch=batch and layer.depth == 0):
                if budget[0] <= 0 or len(layers) >= _MAX_LAYERS:
                    break
                decoded = decoded[: budget[0]]
                if how.startswith("PowerShell -EncodedCommand"):
                    strong = True
                techniques[how.split(":", 1)[0]] = None
                digest = hashlib.sha256(decoded.encode("utf-8", "surrogatepass")).digest()
                if digest in known:
                    continue  # the same text reached twice (a blob inside a de-junked copy): scanned once
                known.add(digest)
                budget[0] -= len(decoded)
                label = how if not layer.how else f"{layer.how} → {how}"
                layers.append(_Layer(label, decoded, layer.depth + 1))
        hits: list[Hit] = []
        seen: set[str] = set()
        urls: dict[str, None] = {}
        for layer in layers:
            check_deadline()
            # Padding runs ("""""…, spaces) are squeezed: no pattern needs them, and every regex would walk them
            squeezed = _RUN.sub(_SQUEEZE, layer.text)
            lowered = squeezed.lower()
            for pattern in self.patterns:
                if pattern.id in seen or (pattern.needs and not any(n in lowered for n in pattern.needs)):
                    continue
                m = pattern.regex.search(squeezed)
                if m is None:
                    continue
                seen.add(pattern.id)
                hits.append(Hit(pattern.id, pattern.kind, pattern.label, _snippet(squeezed, m), layer.how))
                if layer.how and pattern.kind != "obfuscate":
                    strong = True
            for count, url in enumerate(text_urls(layer.text)):
                if count >= 200:
                    break
                urls.setdefault(url)
        for hit in hits:
            if hit.kind == "obfuscate":
                techniques[hit.label] = None
        if len(techniques) >= 3:
            strong = True
        return ScriptScan(
            hits=tuple(hits),
            techniques=tuple(techniques),
            layers=tuple(layer.how for layer in layers[1:]),
            urls=tuple(urls),
            embedded_pe=tuple(embedded_pe),
            strong_obfuscation=strong,
        )

    # -- measurements on the text as written ---------------------------------------------------------------
    def _measure(self, text: str, techniques: dict[str, None], *, batch: bool) -> None:
        size_kb = max(1.0, len(text) / 1024)
        longest = max((len(line) for line in text.splitlines()), default=0)
        joins = len(_LITERAL_JOIN.findall(text)) + len(re.findall(r"\w\s*[+&]\s*\w", text[:1_000_000])) // 4
        if joins >= 20 and joins / size_kb >= 3:
            techniques[f"string concatenation density ({joins} joins)"] = None
        if batch:
            carets = len(_CARET_IN_WORD.findall(text))
            if carets >= 10:
                techniques[f"caret escapes inside words ({carets})"] = None
            expansions = len(_BATCH_VAR.findall(text))
            if expansions >= 50 and expansions / size_kb >= 2:
                techniques[f"batch variable expansion ({expansions} %var% uses)"] = None
        odd = len(_WHITESPACE_ODD.findall(text))
        if odd >= 100:
            techniques[f"unusual whitespace padding ({odd} vertical tab/form feed)"] = None
        if len(text) >= 10_240:
            padded = sum(m.end() - m.start() for m in _BLOCK_COMMENT.finditer(text[:_MAX_BLOB_CHARS]))
            if padded >= len(text) * 0.5:
                techniques[f"padding in comments ({100 * padded // len(text)}% of the script)"] = None
        if longest >= 20_000:
            techniques[f"a {longest}-character line"] = None

    # -- decoders -------------------------------------------------------------------------------------------
    def _peel(
        self, text: str, check_deadline: Callable[[], None], embedded_pe: dict[str, None], *, batch: bool
    ) -> Iterator[tuple[str, str]]:
        for m in _PS_ENCODED.finditer(text):
            flag = m.group(1).lower()
            if flag != "ec" and not "encodedcommand".startswith(flag):
                continue
            raw = _b64(m.group(2))
            if raw is None:
                continue
            decoded = raw.decode("utf-16-le", errors="replace")
            if _printable_ratio(decoded[:2048]) >= 0.9:
                yield "PowerShell -EncodedCommand", decoded
        yield from self._blobs(text, check_deadline, embedded_pe)
        chars = _char_codes(text, check_deadline)
        if chars:
            yield "character codes", chars
        joined = _concatenation(text, check_deadline)
        if joined:
            yield "string concatenation", joined
        replaced = _replacements(text)
        if replaced is not None:
            yield replaced
        reversed_ = "\n".join(m.group(1)[::-1] for m in _STRREVERSE.finditer(text))
        if reversed_:
            yield "StrReverse", reversed_
        if batch:
            expanded = _batch_expand(text, check_deadline, self.max_decoded)
            if expanded:
                yield "batch variables expanded", expanded

    def _blobs(
        self, text: str, check_deadline: Callable[[], None], embedded_pe: dict[str, None]
    ) -> Iterator[tuple[str, str]]:
        for how, regex, decode in (("base64", _B64_BLOB, _b64), ("hex", _HEX_BLOB, _unhex)):
            for count, m in enumerate(regex.finditer(text)):
                if count >= _MAX_BLOBS:
                    break
                check_deadline()
                blob = m.group(0)[:_MAX_BLOB_CHARS]
                raw = decode(blob)
                if raw is None or len(raw) < 16:
                    continue
                if raw.startswith(b"\x1f\x8b"):
                    raw = _gunzip(raw, self.max_decoded)
                    how_here = f"{how} + gzip"
                else:
                    how_here = how
                if raw.startswith(b"MZ") and b"This program" in raw[:1024]:
                    embedded_pe[f"{how_here}-encoded Windows executable ({len(raw)} bytes)"] = None
                    continue
                decoded = _bytes_as_text(raw)
                if decoded is not None:
                    yield f"{how_here} blob: {len(blob)} characters", decoded


def _snippet(text: str, m: re.Match[str]) -> str:
    start = max(0, m.start() - 20)
    piece = " ".join(text[start : m.end() + 40].split())
    return escape_controls(piece[:_MAX_SNIPPET])


def _b64(blob: str) -> bytes | None:
    blob = blob.rstrip("=")
    blob += "=" * (-len(blob) % 4)
    try:
        return base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None


def _unhex(blob: str) -> bytes | None:
    try:
        return bytes.fromhex(blob)
    except ValueError:
        return None


def _gunzip(raw: bytes, limit: int) -> bytes:
    try:
        return zlib.decompressobj(wbits=31).decompress(raw, limit)
    except zlib.error:
        return b""


def _char_codes(text: str, check_deadline: Callable[[], None]) -> str:
    out: list[str] = []
    for m in _FROMCHARCODE.finditer(text):
        chars = [_char(_eval_number(part, {})) for part in m.group(1).split(",")]
        if len(chars) >= 4 and all(chars):
            out.append("".join(c for c in chars if c))
    for m in _PS_CHAR_ARRAY.finditer(text):
        chars = [_char(_eval_number(part, {})) for part in m.group(1).split(",")]
        if len(chars) >= 4 and all(chars):
            out.append("".join(c for c in chars if c))
    for m in _PS_CHARS.finditer(text):
        chars = [_char(_eval_number(c, {})) for c in _PS_CHAR_ONE.findall(m.group(0))]
        if len(chars) >= 4 and all(chars):
            out.append("".join(c for c in chars if c))
    if "chr" in text.lower():
        symbols: dict[str, int] = {}
        for count, m in enumerate(_ASSIGN.finditer(text)):
            if count >= _MAX_ASSIGNMENTS:
                break
            if count % _DEADLINE_EVERY == 0:
                check_deadline()
            expr = m.group(2)
            if _NUMBER_EXPR.match(expr):
                value = _eval_number(expr, symbols)
                if value is not None:
                    symbols[m.group(1).lower()] = value
        for count, m in enumerate(_CHR_CHAIN.finditer(text)):
            if count >= _MAX_CHAINS:
                break
            if count % _DEADLINE_EVERY == 0:
                check_deadline()
            chars = [_char(_eval_number(arg, symbols)) for arg in _CHR_ONE.findall(m.group(0))]
            if len(chars) >= 4 and sum(1 for c in chars if c) >= len(chars) * 0.9:
                out.append("".join(c or "?" for c in chars))
    return "\n".join(out)


def _concatenation(text: str, check_deadline: Callable[[], None]) -> str:
    """Concatenated literals and variables holding literals, joined: "WS" + "crip" + x → WScript…"""
    literals: dict[str, str] = {}
    for count, m in enumerate(_STR_LITERAL_ASSIGN.finditer(text)):
        if count >= _MAX_ASSIGNMENTS:
            break
        if count % _DEADLINE_EVERY == 0:
            check_deadline()
        literals[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3) or ""
    out: list[str] = []
    # the chain regex is costly on long text: only lines with an operator between two operands are searched
    joined = "\n".join(line for line in text.splitlines() if _JOIN_HINT.search(line))
    for count, m in enumerate(_CONCAT_CHAIN.finditer(joined)):
        if count >= _MAX_CHAINS:
            break
        if count % _DEADLINE_EVERY == 0:
            check_deadline()
        parts = re.findall(r"""\$?[A-Za-z_]\w*|"[^"\n]*"|'[^'\n]*'""", m.group(0))
        pieces: list[str] = []
        literal_seen = 0
        for part in parts:
            if part[0] in "\"'":
                pieces.append(part[1:-1])
                literal_seen += 1
            elif part.lstrip("$").lower() in literals:
                pieces.append(literals[part.lstrip("$").lower()])
                literal_seen += 1
            else:
                break
        else:
            if literal_seen >= 2:
                out.append("".join(pieces))
    return "\n".join(piece for piece in out if len(piece) >= 4)


def _replacements(text: str) -> tuple[str, str] | None:
    """Junk tokens removed (or swapped) by literal Replace calls that occur often enough to be obfuscation."""
    pairs: dict[str, str] = {}
    for regex in _REPLACE_CALLS:
        for count, m in enumerate(regex.finditer(text)):
            if count >= 64:
                break
            old, new = m.group(2), m.group(4)
            if old != new and len(old) >= 2 and text.count(old) >= 3:
                pairs.setdefault(old, new)
    if not pairs:
        return None
    out = text
    for old, new in pairs.items():
        out = out.replace(old, new)
    tokens = ", ".join(f"{escape_controls(old)[:20]!r}" for old in list(pairs)[:3])
    return f"Replace() junk tokens: {tokens}", out


def _batch_expand(text: str, check_deadline: Callable[[], None], limit: int) -> str:
    """Lines of a batch file with `set` variables expanded as cmd.exe would (no control flow), carets removed."""
    variables: dict[str, str] = {}
    out: list[str] = []
    size = 0
    changed = False
    for count, line in enumerate(text.splitlines()):
        if count >= _MAX_BATCH_LINES or size >= limit:
            break
        if count % _DEADLINE_EVERY == 0:
            check_deadline()
        if line.lstrip().startswith("::"):
            continue

        def expand(m: re.Match[str]) -> str:
            name = m.group(1).lower()
            if ":" in name:  # %var:~x,y% substrings are left as written
                return m.group(0)
            # cmd.exe would expand an undefined variable to nothing; keeping it as written keeps %TEMP% readable
            return variables.get(name, m.group(0))

        expanded = _BATCH_VAR.sub(expand, line)
        if "^" in expanded:
            expanded = re.sub(r"\^(.)", r"\1", expanded)
        if expanded != line:
            changed = True
        m = _BATCH_SET.match(expanded)
        if m is not None:
            assignment = _batch_assignment(expanded[m.end() :])
            if assignment is not None:
                variables[assignment[0]] = assignment[1]
                continue
        if expanded.strip():
            out.append(expanded)
            size += len(expanded)
    return "\n".join(out) if changed else ""


def _batch_assignment(rest: str) -> tuple[str, str] | None:
    """(name, value) of `set name=value` or `set "name=value"...` (cmd keeps what lies before the last quote)."""
    if rest.startswith('"'):
        end = rest.rfind('"')
        rest = rest[1:end] if end > 0 else rest[1:]
    name, eq, value = rest.partition("=")
    name = name.strip().lower()
    if not eq or not name or len(name) > 64 or len(value) > 8192:
        return None
    return name, value


# -- findings -----------------------------------------------------------------------------------------------------
def script_findings(
    scan: ScriptScan, artifact: str, analyzer: str, *, what: str = "script", obfuscation: bool = True
) -> list[Finding]:
    """SCRIPT_DOWNLOADER / SCRIPT_LAUNCHER / SCRIPT_OBFUSCATED from one scan (shared by LNK, CHM, OneNote)."""
    findings: list[Finding] = []
    kinds = scan.kinds()
    by_kind: dict[str, list[Hit]] = {}
    for hit in scan.hits:
        by_kind.setdefault(hit.kind, []).append(hit)
    runs = [*by_kind.get("launch", []), *by_kind.get("execute", [])]
    if "download" in kinds:
        evidence = [f"{what} downloads: " + ", ".join(h.label for h in by_kind["download"][:3])]
        if runs:
            evidence.append("and runs: " + ", ".join(h.label for h in runs[:3]))
        evidence.extend(_where(by_kind["download"][:2]))
        evidence.extend(f"URL {escape_controls(u)[:120]}" for u in scan.urls[:3])
        findings.append(_finding("SCRIPT_DOWNLOADER", artifact, analyzer, 1.0 if runs else 0.6, evidence))
    elif runs:
        launches = by_kind.get("launch", [])
        evidence = [f"{what} runs: " + ", ".join(h.label for h in runs[:4])]
        evidence.extend(_where((launches or runs)[:2]))
        findings.append(_finding("SCRIPT_LAUNCHER", artifact, analyzer, 1.0 if launches else 0.5, evidence))
    techniques = list(scan.techniques) + list(scan.embedded_pe)
    if obfuscation and techniques:
        strength = 1.0 if scan.strong_obfuscation or scan.embedded_pe else min(0.8, 0.3 + 0.2 * len(techniques))
        evidence = [escape_controls(t)[:120] for t in techniques[:_MAX_EVIDENCE]]
        revealed = [h for h in scan.hits if h.layer and h.kind != "obfuscate"]
        if revealed:
            evidence.append(f"decoding revealed: {', '.join(h.label for h in revealed[:3])}")
        findings.append(_finding("SCRIPT_OBFUSCATED", artifact, analyzer, strength, evidence))
    return findings


def _where(hits: Iterable[Hit]) -> list[str]:
    return [f"{'in ' + h.layer + ': ' if h.layer else ''}{h.snippet}" for h in hits]


def _finding(fid: str, artifact: str, analyzer: str, strength: float, evidence: Sequence[str]) -> Finding:
    return Finding(id=fid, artifact=artifact, analyzer=analyzer, strength=strength, evidence=tuple(evidence))


def add_url_iocs(ctx: PluginContext, urls: Iterable[str]) -> None:
    """URLs and their hosts (domain or IP) to the report's IOCs."""
    for url in urls:
        ctx.add_ioc("urls", url)
        try:
            host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
        except ValueError:
            continue
        if not host:
            continue
        ip = ip_host(host)
        ctx.add_ioc("ips" if ip is not None else "domains", ip.address if ip is not None else host)


# -- the analyzer -------------------------------------------------------------------------------------------------
def scanner_from_options(config: Config, options: Mapping[str, Any], section: str) -> tuple[ScriptScanner, int]:
    """A ScriptScanner and the max_text limit from an analyzer's options (shared by the carrier analyzers)."""
    path = options.get("patterns", DEFAULT_PATTERNS)
    max_text = options.get("max_text", DEFAULT_MAX_TEXT)
    max_decoded = options.get("max_decoded", DEFAULT_MAX_DECODED)
    if not isinstance(path, str):
        raise ConfigError(f"[{section}] patterns must be a rules path string")
    for key, value in (("max_text", max_text), ("max_decoded", max_decoded)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"[{section}] {key} must be a positive integer")
    patterns = config.rules_path(path)
    return ScriptScanner(lambda: load_patterns(patterns), max_decoded=max_decoded), max_text


class ScriptAnalyzer:
    name = "script"
    scope = Scope.ARTIFACT
    # "text"/"html" only for payloads a carrier unpacker marked as scripts (meta "script": kind)
    accepts = SCRIPT_TAGS | frozenset({"text", "html"})
    emits = declared_emits(__name__, "ScriptAnalyzer")

    def __init__(self) -> None:
        self._scanner: ScriptScanner | None = None
        self._max_text = DEFAULT_MAX_TEXT

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, f"analyzers.{self.name}")
        self._scanner, self._max_text = scanner_from_options(config, options, f"analyzers.{self.name}")

    def prepare(self) -> None:
        if self._scanner is not None:
            self._scanner.prepare()

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if self._scanner is None or not target.readable or not target.data:
            return []
        types = set(target.types)
        if types.isdisjoint(SCRIPT_TAGS) and not target.artifact.meta.get("script"):
            return []
        text = decode_text(target.data, self._max_text)
        batch = "script-bat" in types or target.artifact.meta.get("script") == "script-bat"
        scan = self._scanner.scan(text, ctx.check_deadline, batch=batch)
        add_url_iocs(ctx, scan.urls)
        if scan.layers:
            ctx.set_meta("script_layers", list(scan.layers[:10]))
        return script_findings(scan, target.id, self.name)
