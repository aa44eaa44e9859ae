"""Campaigns: messages of one sweep that share an attachment, a payload indicator, a sender domain, a sending
server (the first external Received hop), or a near-identical subject and body.

A group becomes a campaign when it holds at least two messages and at least one of them is not clean: the
point is to find the rest of an attack (other recipients, other lures) starting from what was flagged, not to
cluster all ham by its mailing list. Free-mail domains group by full address instead of domain. Near-identical
text is compared among the flagged messages only (rapidfuzz ratio ≥ 90 on subject + start of body); the
number compared is capped, so a huge sweep stays quadratic in a bounded set.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from triage.batch.store import ResultStore, date_ts
from triage.model import Level

_SKIP_TYPES = frozenset({"text", "html", "email", "image"})
_MIN_ATTACHMENT_SIZE = 64
_SIMILARITY = 90.0
_MAX_SIMILAR = 5000
_SAMPLE = 300


@dataclass(frozen=True)
class Campaign:
    kind: str  # attachment | ioc | sender_domain | sender | infrastructure | similar_text
    key: str
    messages: tuple[int, ...]
    recipients: int
    worst: str
    first_date: str
    last_date: str


def _load_freemail(path: Path) -> frozenset[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return frozenset()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.lstrip().startswith("#"))


def build_campaigns(store: ResultStore, freemail_list: Path) -> list[Campaign]:
    store.flush()
    db = store.db
    verdict: dict[int, str] = {}
    dates: dict[int, str] = {}
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    freemail = _load_freemail(freemail_list)
    texts: dict[int, str] = {}
    query = (
        "SELECT id, verdict, sender, sender_domain, first_external_hop, subject, text_sample, date "
        "FROM messages WHERE status = 'ok'"
    )
    for mid, level, sender, domain, hop, subject, sample, date in db.execute(query):
        verdict[mid] = level
        dates[mid] = date or ""
        if domain:
            groups[("sender", sender) if domain in freemail else ("sender_domain", domain)].add(mid)
        if hop:
            groups[("infrastructure", hop)].add(mid)
        if level != Level.CLEAN.value:
            texts[mid] = f"{subject or ''} {(sample or '')[:_SAMPLE]}".strip()
    for sha256, mid, types, size in db.execute(
        "SELECT sha256, message, types, size FROM artifacts WHERE depth > 0 AND sha256 IS NOT NULL"
    ):
        if size >= _MIN_ATTACHMENT_SIZE and _SKIP_TYPES.isdisjoint((types or "").split(",")):
            groups[("attachment", sha256)].add(mid)
    for value, mid in db.execute("SELECT value, message FROM iocs WHERE kind IN ('urls', 'ips')"):
        groups[("ioc", value)].add(mid)
    for key, members in _similar(texts).items():
        groups[("similar_text", key)] = members

    out: list[Campaign] = []
    for (kind, key), members in groups.items():
        if len(members) < 2 or all(verdict.get(m) == Level.CLEAN.value for m in members):
            continue
        ordered = tuple(sorted(members))
        worst = max((Level(verdict[m]) for m in ordered if verdict.get(m)), key=lambda lv: lv.rank).value
        marks = ",".join("?" for _ in ordered)
        recipients = db.execute(
            f"SELECT COUNT(DISTINCT address) FROM recipients WHERE message IN ({marks})",  # noqa: S608 - placeholders
            ordered,
        ).fetchone()[0]
        # by the instant each Date names, not as text ("Fri, 02 Aug" sorts before "Wed, 31 Jul"); undated last
        stamps = sorted(
            (d for d in (dates[m] for m in ordered) if d), key=lambda d: (date_ts(d) is None, date_ts(d) or 0)
        )
        out.append(
            Campaign(
                kind, key, ordered, int(recipients), worst, stamps[0] if stamps else "", stamps[-1] if stamps else ""
            )
        )
    out.sort(key=lambda c: (-Level(c.worst).rank, -len(c.messages), c.kind, c.key))
    _save(store, out)
    return out


def _similar(texts: dict[int, str]) -> dict[str, set[int]]:
    """Union-find over flagged messages whose subject + body start are near-identical."""
    from rapidfuzz import fuzz, process

    ids = sorted(texts)[:_MAX_SIMILAR]
    choices = [texts[i] for i in ids]
    parent = list(range(len(ids)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, text in enumerate(choices):
        if len(text) < 8:
            continue
        for _, _, j in process.extract(text, choices, scorer=fuzz.ratio, score_cutoff=_SIMILARITY, limit=None):
            if j != i and len(choices[j]) >= 8:
                parent[find(j)] = find(i)
    out: dict[int, set[int]] = defaultdict(set)
    for i in range(len(ids)):
        out[find(i)].add(ids[i])
    return {choices[root][:120]: members for root, members in out.items() if len(members) > 1}


def _save(store: ResultStore, campaigns: list[Campaign]) -> None:
    db = store.db
    db.execute("BEGIN")
    try:
        db.execute("DELETE FROM campaign_members")
        db.execute("DELETE FROM campaigns")
        for n, c in enumerate(campaigns, 1):
            db.execute(
                "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (n, c.kind, c.key, len(c.messages), c.recipients, c.worst, c.first_date, c.last_date),
            )
            db.executemany("INSERT INTO campaign_members VALUES (?, ?)", [(n, m) for m in c.messages])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
