"""A Report as JSON (DESIGN §5): one document per message, or JSON Lines for several.

Japanese stays readable (no \\u escapes for ordinary text), but every control, bidi and invisible character is
written as a \\uXXXX escape so the JSON is safe to print on a terminal and still decodes to the raw value.
"""

from __future__ import annotations

import json
import unicodedata

from triage.model import Report


def _is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co") or ch in "\u2800\u3164\u115f\u1160\uffa0"


def escape_unsafe(text: str) -> str:
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for ch in text:
        if ord(ch) > 0x7E and _is_unsafe(ch):
            code = ord(ch)
            if code > 0xFFFF:  # a surrogate pair, as JSON spells characters beyond the BMP
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def render_json(report: Report, *, indent: int | None = None) -> str:
    # json.dumps already escapes C0 controls; the rest of the unsafe set only occurs inside strings
    return escape_unsafe(json.dumps(report.to_dict(), ensure_ascii=False, indent=indent))


def parse_json(text: str) -> Report:
    return Report.from_dict(json.loads(text))
