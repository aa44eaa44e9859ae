"""What the STIX and MISP export tests share: strings an attacker may put anywhere in a message, a report of a real
sample rewritten with them, and an even sample of real mail."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from hypothesis import strategies as st

from tests.conftest import CORPUS
from triage.model import Iocs, Level, Report, Verdict

# Any text (no lone surrogates: they cannot be JSON), plus the characters that break quoting
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["'", "\\", "'] OR [", " ", ""]
)


# Every field `rewritten` replaces, drawn from TEXT: what a test passes as rewritten(base, **fields).
HOSTILE_FIELDS = st.fixed_dictionaries(
    {
        "subject": TEXT,
        "sender": TEXT,
        "display": TEXT,
        "name": TEXT,
        "date": TEXT,
        "urls": st.lists(TEXT, max_size=3),
        "domains": st.lists(TEXT, max_size=2),
        "ips": st.lists(TEXT | st.ip_addresses().map(str), max_size=2),
        "emails": st.lists(TEXT, max_size=2),
        "level": st.sampled_from(list(Level)),
    }
)


def rewritten(
    base: Report,
    *,
    level: Level,
    subject: str,
    sender: str,
    date: str,
    name: str,
    display: str | None = None,
    urls: Sequence[str] = (),
    domains: Sequence[str] = (),
    ips: Sequence[str] = (),
    emails: Sequence[str] | None = None,
) -> Report:
    """`base` with message fields, its third artifact's name and its IOCs replaced (empty values dropped)."""
    art = base.artifacts[2]
    message = dataclasses.replace(base.message, subject=subject, from_=sender, date=date)
    if display is not None:
        message = dataclasses.replace(message, from_display=display)
    return dataclasses.replace(
        base,
        message=message,
        artifacts=tuple(dataclasses.replace(a, name=name) if a.id == art.id else a for a in base.artifacts),
        iocs=Iocs(
            urls=tuple(u for u in urls if u),
            domains=tuple(d for d in domains if d),
            ips=tuple(i for i in ips if i),
            emails=base.iocs.emails if emails is None else tuple(e for e in emails if e),
            hashes=base.iocs.hashes,
        ),
        verdict=Verdict(level, complete=True),
    )


def corpus_sample(count: int) -> list[Path]:
    """Every n-th message of the phishing_pot folder: real mail, with the odd values real mail has."""
    files = sorted((CORPUS / "phishing_pot").glob("*.eml"))
    return files[:: max(1, len(files) // count)][:count]
