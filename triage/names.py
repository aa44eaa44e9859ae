"""File names as people see them: escaping invisible characters, and the bidi-reordered display form.

Attackers name files so that what is shown differs from what is run: a RIGHT-TO-LEFT OVERRIDE (U+202E) makes
``report\\u202efdp.exe`` display as ``reportexe.pdf``; zero-width and filler characters hide or pad.

- `escape_controls(text)` makes any text safe to print: every control, format, line/paragraph separator and
  invisible filler character becomes ``\\uXXXX`` (``\\UXXXXXXXX`` above the BMP). A literal backslash is left as
  it is, so a name that contains the six characters ``\\u202e`` reads the same as one with a real U+202E: the
  findings, not the escaped text, say which it was.
- `display_name(name)` is the name as Windows Explorer renders it: the Unicode Bidirectional Algorithm (UAX #9)
  on a left-to-right paragraph, with mirrored brackets, then every invisible character (categories Cc, Cf, Zl,
  Zp) dropped. The result contains no control characters but is not escaped; callers escape it for output.
- `real_extension(name)` is the extension Windows acts on; `padding_runs(name)` finds runs of padding.

The bidi implementation is our own, in pure Python (no dependency): explicit embeddings, overrides and isolates
(X1-X10), weak and neutral types including bracket pairs (W1-W7, N0-N2), implicit levels (I1-I2), line rules
L1-L2 and L4 mirroring for the common brackets. Known simplifications, none of which matter for the file-name
tricks we look for: the Bidi_Paired_Bracket and Bidi_Mirroring_Glyph tables are partial (the common brackets,
CJK brackets and angle quotes); unassigned code points default to L even in ranges the standard gives R or AL;
the Unicode version is that of Python's `unicodedata`. Names longer than `MAX_BIDI_CHARS` are shown as their
head and tail around an ellipsis, like Explorer's own truncation, so a hostile name cannot make this slow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "INVISIBLE_FILLERS",
    "MAX_BIDI_CHARS",
    "PADDING_CHARS",
    "display_name",
    "escape_controls",
    "is_hidden",
    "padding_runs",
    "real_extension",
]

# Letters that render as blank space but are not spaces: used to pad names or fake empty ones.
INVISIBLE_FILLERS = frozenset("\u2800\u3164\u115f\u1160\uffa0")
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})  # Cs: lone surrogates cannot even be encoded
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

# Characters that push an extension out of sight in a file list column. "." is here because Windows strips a
# run of dots harmlessly before the real extension, so "a.pdf.......exe" runs as .exe.
PADDING_CHARS = (
    frozenset(" _.\u00a0\u3000\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f")
    | INVISIBLE_FILLERS
)

MAX_BIDI_CHARS = 4096

# Every code point whose bidi class is R, AL, AN or an explicit embedding/override/isolate lies in one of these
# ranges (a test enumerates all of Unicode to prove it). A name with none of them has every level at 0, so the
# common case skips the algorithm.
_NEEDS_BIDI = re.compile(
    "[\u0590-\u08ff\u200f\u202a-\u202e\u2066-\u2069\ufb1d-\ufdff\ufe70-\ufeff"
    "\U00010800-\U00010fff\U0001e800-\U0001efff]"
)
# Invisible characters dropped from a display string (the fast path; the slow path checks categories).
_INVISIBLE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)

_MAX_DEPTH = 125
_MAX_BRACKET_STACK = 63

_EXPLICIT_PUSH = frozenset({"RLE", "LRE", "RLO", "LRO"})
_ISOLATE_INITIATORS = frozenset({"LRI", "RLI", "FSI"})
_REMOVED_BY_X9 = frozenset({"RLE", "LRE", "RLO", "LRO", "PDF", "BN"})
_NEUTRAL_OR_ISOLATE = frozenset({"B", "S", "WS", "ON", "LRI", "RLI", "FSI", "PDI"})
_STRONG = frozenset({"L", "R", "AL"})


def _pairs(*spans: tuple[int, int]) -> dict[str, str]:
    """Opening -> closing for runs of consecutive (open, close) code point pairs."""
    out: dict[str, str] = {}
    for first, last in spans:
        for cp in range(first, last, 2):
            out[chr(cp)] = chr(cp + 1)
    return out


# Bidi_Paired_Bracket (opening -> closing), the part of BidiBrackets.txt a file name can plausibly hold.
_BRACKETS: dict[str, str] = {
    "(": ")",
    "[": "]",
    "{": "}",
    "\u0f3a": "\u0f3b",
    "\u0f3c": "\u0f3d",
    "\u169b": "\u169c",
    "\uff3b": "\uff3d",
    "\uff5b": "\uff5d",
    **_pairs(
        (0x2045, 0x2046),
        (0x207D, 0x207E),
        (0x208D, 0x208E),
        (0x2308, 0x230B),
        (0x2329, 0x232A),
        (0x2768, 0x2775),
        (0x27C5, 0x27C6),
        (0x27E6, 0x27EF),
        (0x2983, 0x2998),
        (0x29D8, 0x29DB),
        (0x29FC, 0x29FD),
        (0x2E22, 0x2E29),
        (0x3008, 0x3011),
        (0x3014, 0x301B),
        (0xFE59, 0xFE5E),
        (0xFF08, 0xFF09),
        (0xFF5F, 0xFF60),
        (0xFF62, 0xFF63),
    ),
}
_CLOSING = {close: open_ for open_, close in _BRACKETS.items()}
# U+2329/232A are canonically equivalent to U+3008/3009 (BD16 compares canonical equivalents).
_BRACKET_CANON = {"\u2329": "\u3008", "\u232a": "\u3009"}
_MIRROR: dict[str, str] = {
    **_BRACKETS,
    **_CLOSING,
    "<": ">",
    ">": "<",
    "\u00ab": "\u00bb",
    "\u00bb": "\u00ab",
    "\u2039": "\u203a",
    "\u203a": "\u2039",
}


# --------------------------------------------------------------------------------------------------------------
# escaping
# --------------------------------------------------------------------------------------------------------------
def _escape_char(ch: str) -> str:
    cp = ord(ch)
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def is_hidden(ch: str) -> bool:
    """True for a character that escape_controls shows as an escape: control, format, separator, filler."""
    return ch in INVISIBLE_FILLERS or unicodedata.category(ch) in _ESCAPED_CATEGORIES


def escape_controls(text: str) -> str:
    """`text` with every control, format, line/paragraph separator and invisible filler shown as \\uXXXX."""
    if text.isprintable() and INVISIBLE_FILLERS.isdisjoint(text):
        # isprintable() is False for every Cc/Cf/Zl/Zp/Cs character (and for Zs other than U+0020, Cn, Co,
        # which the slow path then keeps), so the common case is one C-level scan.
        return text
    return "".join(_escape_char(ch) if is_hidden(ch) else ch for ch in text)


# --------------------------------------------------------------------------------------------------------------
# extensions and padding
# --------------------------------------------------------------------------------------------------------------
def strip_windows_trailing(name: str) -> str:
    """Windows drops trailing spaces and dots when it creates a file: "a.exe. " is saved as "a.exe"."""
    return name.rstrip(" .")


def real_extension(name: str) -> str:
    """The lower-case extension Windows would act on, without the dot; "" when there is none.

    Invisible characters inside the extension stay part of it (Windows does not ignore them: "x.ex\\u200be" is
    not an .exe), and a path's directories are not part of the name.
    """
    base = strip_windows_trailing(_basename(name))
    dot = base.rfind(".")
    return base[dot + 1 :].lower() if dot >= 0 else ""


def _basename(name: str) -> str:
    cut = max(name.rfind("/"), name.rfind("\\"))
    return name[cut + 1 :] if cut >= 0 else name


def padding_runs(name: str, min_run: int = 2) -> tuple[tuple[int, int], ...]:
    """(start, length) of every run of at least `min_run` padding characters (see PADDING_CHARS) in `name`."""
    runs: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(name):
        if ch in PADDING_CHARS:
            if start < 0:
                start = i
        elif start >= 0:
            if i - start >= min_run:
                runs.append((start, i - start))
            start = -1
    if start >= 0 and len(name) - start >= min_run:
        runs.append((start, len(name) - start))
    return tuple(runs)


# --------------------------------------------------------------------------------------------------------------
# display: the Unicode Bidirectional Algorithm on a left-to-right paragraph
# --------------------------------------------------------------------------------------------------------------
def display_name(name: str) -> str:
    """`name` as Windows Explorer shows it: bidi-reordered on an LTR paragraph, invisible characters dropped."""
    return _visual(name, mirror=True)


def _visual(name: str, *, mirror: bool) -> str:
    if not _NEEDS_BIDI.search(name):
        return _drop_invisible(name)
    if len(name) > MAX_BIDI_CHARS:
        half = MAX_BIDI_CHARS // 2
        return _visual(name[:half], mirror=mirror) + "…" + _visual(name[-half:], mirror=mirror)
    out: list[str] = []
    start = 0
    # Each paragraph separator ends a paragraph (P1); the separator itself is invisible and dropped.
    for i, ch in enumerate(name):
        if unicodedata.bidirectional(ch) == "B":
            out.append(_reorder_paragraph(name[start:i], mirror))
            start = i + 1
    out.append(_reorder_paragraph(name[start:], mirror))
    return "".join(out)


def _drop_invisible(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)


def _bidi_class(ch: str) -> str:
    return unicodedata.bidirectional(ch) or "L"


def _reorder_paragraph(text: str, mirror: bool) -> str:
    if not text:
        return ""
    original = [_bidi_class(ch) for ch in text]
    levels, types, removed = _explicit_levels(original)
    matching = _matching_pdis(original)
    kept = [i for i in range(len(text)) if not removed[i]]
    explicit = tuple(levels)  # sos/eos look at neighbours' embedding levels, not their resolved ones
    for seq in _isolating_run_sequences(kept, explicit, original, matching):
        _resolve_sequence(seq, text, explicit, levels, types, original, removed)
    _line_levels(levels, original, removed)
    order = _visual_order(kept, levels)
    chars: list[str] = []
    for i in order:
        ch = text[i]
        if unicodedata.category(ch) in _DROPPED_CATEGORIES:
            continue
        if mirror and levels[i] & 1:
            ch = _MIRROR.get(ch, ch)
        chars.append(ch)
    return "".join(chars)


def _matching_pdis(original: Sequence[str]) -> dict[int, int]:
    """BD9: isolate initiator index -> its matching PDI index (text order only, not levels)."""
    stack: list[int] = []
    matching: dict[int, int] = {}
    for i, t in enumerate(original):
        if t in _ISOLATE_INITIATORS:
            stack.append(i)
        elif t == "PDI" and stack:
            matching[stack.pop()] = i
    return matching


def _first_strong_in_isolates(original: Sequence[str]) -> dict[int, str]:
    """For each isolate initiator, the first strong type (L or R) inside it, skipping nested isolates (P2).

    One pass: a strong character resolves only the innermost open isolate, which is exactly the one whose
    content (minus nested isolates) it belongs to.
    """
    stack: list[int] = []
    first: dict[int, str] = {}
    for i, t in enumerate(original):
        if t in _ISOLATE_INITIATORS:
            stack.append(i)
        elif t == "PDI":
            if stack:
                stack.pop()
        elif t in _STRONG and stack and stack[-1] not in first:
            first[stack[-1]] = "L" if t == "L" else "R"
    return first


def _explicit_levels(original: Sequence[str]) -> tuple[list[int], list[str], list[bool]]:
    """X1-X9: embedding levels, types after overrides, and which characters X9 removes."""
    n = len(original)
    levels = [0] * n
    types = list(original)
    removed = [False] * n
    fsi_direction = _first_strong_in_isolates(original) if "FSI" in original else {}
    # (level, override: "L" / "R" / "", isolate)
    stack: list[tuple[int, str, bool]] = [(0, "", False)]
    overflow_isolates = overflow_embeddings = valid_isolates = 0
    for i, t in enumerate(original):
        level, override, _ = stack[-1]
        if t in _EXPLICIT_PUSH:
            levels[i] = level
            removed[i] = True
            rtl = t[0] == "R"
            new = (level + 1) | 1 if rtl else (level + 2) & ~1
            if new <= _MAX_DEPTH and overflow_isolates == 0 and overflow_embeddings == 0:
                stack.append((new, ("R" if rtl else "L") if t[2] == "O" else "", False))
            elif overflow_isolates == 0:
                overflow_embeddings += 1
        elif t in _ISOLATE_INITIATORS:
            levels[i] = level
            if override:
                types[i] = override
            rtl = t == "RLI" or (t == "FSI" and fsi_direction.get(i) == "R")
            new = (level + 1) | 1 if rtl else (level + 2) & ~1
            if new <= _MAX_DEPTH and overflow_isolates == 0 and overflow_embeddings == 0:
                valid_isolates += 1
                stack.append((new, "", True))
            else:
                overflow_isolates += 1
        elif t == "PDI":
            if overflow_isolates > 0:
                overflow_isolates -= 1
            elif valid_isolates > 0:
                overflow_embeddings = 0
                while not stack[-1][2]:
                    stack.pop()
                stack.pop()
                valid_isolates -= 1
            level, override, _ = stack[-1]
            levels[i] = level
            if override:
                types[i] = override
        elif t == "PDF":
            levels[i] = level
            removed[i] = True
            if overflow_isolates > 0:
                pass
            elif overflow_embeddings > 0:
                overflow_embeddings -= 1
            elif not stack[-1][2] and len(stack) >= 2:
                stack.pop()
        elif t == "BN":
            levels[i] = level
            removed[i] = True
        else:
            levels[i] = level
            if override:
                types[i] = override
    return levels, types, removed


def _isolating_run_sequences(
    kept: Sequence[int], levels: Sequence[int], original: Sequence[str], matching: dict[int, int]
) -> list[list[int]]:
    """BD13: level runs over the kept characters, chained across isolate initiator / matching PDI pairs."""
    runs: list[list[int]] = []
    for i in kept:
        if runs and levels[runs[-1][-1]] == levels[i]:
            runs[-1].append(i)
        else:
            runs.append([i])
    run_at = {run[0]: run for run in runs}
    matched_pdis = set(matching.values())
    sequences: list[list[int]] = []
    for run in runs:
        if original[run[0]] == "PDI" and run[0] in matched_pdis:
            continue  # appended to its initiator's sequence below
        seq = list(run)
        current = run
        while original[current[-1]] in _ISOLATE_INITIATORS and current[-1] in matching:
            nxt = run_at.get(matching[current[-1]])
            if nxt is None:
                break
            seq.extend(nxt)
            current = nxt
        sequences.append(seq)
    return sequences


def _resolve_sequence(
    seq: list[int],
    text: str,
    explicit: Sequence[int],
    levels: list[int],
    types: list[str],
    original: Sequence[str],
    removed: Sequence[bool],
) -> None:
    """W1-W7, N0-N2 and I1-I2 on one isolating run sequence, in place."""
    level = explicit[seq[0]]
    sos, eos = _sos_eos(seq, explicit, original, removed)
    t = [types[i] for i in seq]
    n = len(t)

    # W1: NSM takes the type of the previous character (ON after an isolate initiator or PDI).
    for k in range(n):
        if t[k] == "NSM":
            if k == 0:
                t[k] = sos
            else:
                t[k] = "ON" if t[k - 1] in _ISOLATE_INITIATORS or t[k - 1] == "PDI" else t[k - 1]
    # W2 / W3: EN after AL becomes AN; AL becomes R.
    last_strong = sos
    for k in range(n):
        if t[k] in _STRONG:
            last_strong = t[k]
        elif t[k] == "EN" and last_strong == "AL":
            t[k] = "AN"
    for k in range(n):
        if t[k] == "AL":
            t[k] = "R"
    # W4: a single separator between two numbers of the same kind joins them.
    for k in range(1, n - 1):
        if t[k] == "ES" and t[k - 1] == "EN" and t[k + 1] == "EN":
            t[k] = "EN"
        elif t[k] == "CS" and t[k - 1] == t[k + 1] and t[k - 1] in ("EN", "AN"):
            t[k] = t[k - 1]
    # W5: terminators next to European numbers become EN.
    k = 0
    while k < n:
        if t[k] == "ET":
            end = k
            while end < n and t[end] == "ET":
                end += 1
            if (k > 0 and t[k - 1] == "EN") or (end < n and t[end] == "EN"):
                for j in range(k, end):
                    t[j] = "EN"
            k = end
        else:
            k += 1
    # W6 / W7
    for k in range(n):
        if t[k] in ("ES", "ET", "CS"):
            t[k] = "ON"
    last_strong = sos
    for k in range(n):
        if t[k] in ("L", "R"):
            last_strong = t[k]
        elif t[k] == "EN" and last_strong == "L":
            t[k] = "L"

    embedding = "R" if level & 1 else "L"
    _bracket_pairs(seq, text, t, original, sos, embedding)

    # N1 / N2: runs of neutrals take the direction around them when both sides agree, else the embedding's.
    k = 0
    while k < n:
        if t[k] in _NEUTRAL_OR_ISOLATE:
            end = k
            while end < n and t[end] in _NEUTRAL_OR_ISOLATE:
                end += 1
            before = _as_strong(t[k - 1]) if k > 0 else sos
            after = _as_strong(t[end]) if end < n else eos
            fill = before if before == after else embedding
            for j in range(k, end):
                t[j] = fill
            k = end
        else:
            k += 1

    # I1 / I2
    for k, i in enumerate(seq):
        kind = t[k]
        if level & 1 == 0:
            if kind == "R":
                levels[i] = level + 1
            elif kind in ("AN", "EN"):
                levels[i] = level + 2
        elif kind in ("L", "EN", "AN"):
            levels[i] = level + 1


def _as_strong(kind: str) -> str:
    return "R" if kind in ("R", "EN", "AN") else kind


def _sos_eos(
    seq: Sequence[int], levels: Sequence[int], original: Sequence[str], removed: Sequence[bool]
) -> tuple[str, str]:
    level = levels[seq[0]]
    prev = seq[0] - 1
    while prev >= 0 and removed[prev]:
        prev -= 1
    before = levels[prev] if prev >= 0 else 0
    last = seq[-1]
    if original[last] in _ISOLATE_INITIATORS:
        after = 0
    else:
        nxt = last + 1
        while nxt < len(levels) and removed[nxt]:
            nxt += 1
        after = levels[nxt] if nxt < len(levels) else 0
    sos = "R" if max(level, before) & 1 else "L"
    eos = "R" if max(levels[last], after) & 1 else "L"
    return sos, eos


def _bracket_pairs(
    seq: Sequence[int], text: str, t: list[str], original: Sequence[str], sos: str, embedding: str
) -> None:
    """N0: paired brackets take the direction of what they enclose (or of their context), in place on `t`."""
    stack: list[tuple[str, int]] = []
    pairs: list[tuple[int, int]] = []
    for k, i in enumerate(seq):
        if t[k] != "ON":
            continue
        ch = _BRACKET_CANON.get(text[i], text[i])
        if ch in _BRACKETS:
            if len(stack) >= _MAX_BRACKET_STACK:
                break
            stack.append((_BRACKET_CANON.get(_BRACKETS[ch], _BRACKETS[ch]), k))
        elif ch in _CLOSING:
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == ch:
                    pairs.append((stack[depth][1], k))
                    del stack[depth:]
                    break
    if not pairs:
        return
    pairs.sort()
    opposite = "L" if embedding == "R" else "R"
    for open_k, close_k in pairs:
        inside = {_as_strong(x) for x in t[open_k + 1 : close_k]} & {"L", "R"}
        if embedding in inside:
            direction = embedding
        elif opposite in inside:
            context = sos
            for j in range(open_k - 1, -1, -1):
                if _as_strong(t[j]) in ("L", "R"):
                    context = _as_strong(t[j])
                    break
            direction = opposite if context == opposite else embedding
        else:
            continue
        for k in (open_k, close_k):
            t[k] = direction
            # NSMs after a bracket follow it (they became ON in W1).
            j = k + 1
            while j < len(seq) and original[seq[j]] == "NSM":
                t[j] = direction
                j += 1


def _line_levels(levels: list[int], original: Sequence[str], removed: Sequence[bool]) -> None:
    """L1: separators, and whitespace before them or at the end of the line, go back to the paragraph level."""
    trailing = True
    for i in range(len(original) - 1, -1, -1):
        kind = original[i]
        if kind in ("S", "B"):
            levels[i] = 0
            trailing = True
        elif trailing and (kind == "WS" or kind in _ISOLATE_INITIATORS or kind == "PDI" or removed[i]):
            levels[i] = 0
        else:
            trailing = False


def _visual_order(kept: Sequence[int], levels: Sequence[int]) -> list[int]:
    """L2: from the highest level down to the lowest odd one, reverse every run at that level or higher."""
    order = list(kept)
    if not order:
        return order
    highest = max(levels[i] for i in order)
    lowest_odd = min((levels[i] for i in order if levels[i] & 1), default=highest + 1)
    for lv in range(highest, lowest_odd - 1, -1):
        k = 0
        while k < len(order):
            if levels[order[k]] >= lv:
                end = k
                while end < len(order) and levels[order[end]] >= lv:
                    end += 1
                order[k:end] = order[k:end][::-1]
                k = end
            else:
                k += 1
    return order
