"""The sweep's HTML report (`DIR/report.html` of `triage batch`), read from its results database.

Per-verdict counts, a sortable and filterable table of every message, campaigns and PPAP pairs, then the details:
the full report of each suspicious or malicious message, and a compact, collapsed block for each clean one, so
a sweep of thousands of mostly clean messages stays a file a browser opens quickly. Every row links to its
message's detail in the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from triage.batch.store import DB_NAME, ResultStore
from triage.model import Level
from triage.report.defang import defang
from triage.report.html import anchor_id, page, report_section, text, verdict_badge
from triage.report.i18n import Messages
from triage.scoring.table import ScoringTable

__all__ = ["HTML_NAME", "render_sweep_html", "write_sweep_html"]

HTML_NAME = "report.html"
_CAMPAIGNS_SHOWN = 300
_MEMBERS_LINKED = 40  # per campaign
_FINDINGS_IN_ROW = 12
_LEVELS = (Level.MALICIOUS, Level.SUSPICIOUS, Level.CLEAN)


@dataclass(frozen=True)
class _Row:
    id: int
    source_id: str
    status: str
    error_kind: str
    error_detail: str
    verdict: str
    complete: bool
    score: float
    sender: str
    subject: str
    date: str
    date_ts: float | None
    findings: tuple[str, ...]

    @property
    def anchor(self) -> str:
        return anchor_id("msg", self.id)

    @property
    def rank(self) -> int:
        try:
            return Level(self.verdict).rank
        except ValueError:
            return -1


def _rows(store: ResultStore) -> list[_Row]:
    db = store.db
    findings: dict[int, list[str]] = {}
    for message, finding in db.execute(
        "SELECT message, finding FROM findings GROUP BY message, finding "
        "HAVING MAX(weight) > 0 OR finding = 'FORWARDED_ORIGINAL' ORDER BY message, MAX(weight) DESC, finding"
    ):
        findings.setdefault(message, []).append(finding)
    query = (
        "SELECT id, source_id, status, error_kind, error_detail, verdict, complete, score, sender, subject, date, "
        "date_ts FROM messages ORDER BY seq"
    )
    rows = [
        _Row(
            id=r[0],
            source_id=r[1] or "",
            status=r[2] or "",
            error_kind=r[3] or "",
            error_detail=r[4] or "",
            verdict=r[5] or "",
            complete=bool(r[6]) if r[6] is not None else True,
            score=float(r[7] or 0.0),
            sender=r[8] or "",
            subject=r[9] or "",
            date=r[10] or "",
            date_ts=r[11],
            findings=tuple(findings.get(r[0], ())),
        )
        for r in db.execute(query)
    ]
    # flagged first, then by score; source order breaks ties
    return sorted(rows, key=lambda r: (-r.rank, -r.score))


def _counts(rows: Sequence[_Row], messages: Messages) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        key = row.verdict if row.status == "ok" else "error"
        counts[key] = counts.get(key, 0) + 1
    boxes = [
        f'<div class="count {level.value}"><span class="n">{counts.get(level.value, 0)}</span>'
        f"{text(messages.verdict(level))}</div>"
        for level in _LEVELS
    ]
    if counts.get("error"):
        boxes.append(
            f'<div class="count error"><span class="n">{counts["error"]}</span>'
            f"{text(messages.t('html.verdict_error'))}</div>"
        )
    total = f'<div class="count"><span class="n">{len(rows)}</span>{text(messages.t("html.total"))}</div>'
    return f'<div class="counts">{"".join(boxes)}{total}</div>'


def _table(rows: Sequence[_Row], messages: Messages) -> str:
    t = messages.t
    options = "".join(f'<option value="{lv.value}">{text(messages.verdict(lv))}</option>' for lv in _LEVELS)
    controls = (
        '<div class="controls">'
        f'<input type="search" id="filter" placeholder="{text(t("html.filter_placeholder"))}" '
        f'aria-label="{text(t("html.filter_label"))}">'
        f'<select id="verdict-filter" aria-label="{text(t("html.col_verdict"))}">'
        f'<option value="">{text(t("html.all_verdicts"))}</option>{options}'
        f'<option value="error">{text(t("html.verdict_error"))}</option></select>'
        f'<span id="shown-count" class="muted" data-template="{text(t("html.shown"))}"></span></div>'
    )
    head = "".join(
        f'<th data-type="{kind}" data-col="{col}"{sort}><button type="button">{text(t(f"html.col_{col}"))}</button>'
        "</th>"
        for col, kind, sort in (
            ("verdict", "num", ""),
            ("score", "num", ' aria-sort="descending"'),
            ("date", "num", ""),
            ("sender", "text", ""),
            ("subject", "text", ""),
            ("findings", "text", ""),
            ("source", "text", ""),
        )
    )
    body: list[str] = []
    for row in rows:
        if row.status == "ok":
            verdict = messages.verdict(Level(row.verdict)) if row.rank >= 0 else row.verdict
            shown = row.findings[:_FINDINGS_IN_ROW]
            fids = " ".join(shown) + (" …" if len(row.findings) > len(shown) else "")
            if not row.complete:
                verdict += " !"
            data_verdict = row.verdict
            score = f"{row.score:g}"
        else:
            verdict = t("html.verdict_error")
            fids = f"{row.error_kind}: {row.error_detail}"
            data_verdict = "error"
            score = ""
        stamp = "" if row.date_ts is None else f"{row.date_ts:.0f}"
        date_text = text(_short_date(row.date))
        # the last path part is what tells messages apart; the whole source id is the tooltip
        label = text(_short_source(row.source_id), limit=200)
        full = text(row.source_id, limit=1000)
        link = (
            f'<a href="#{row.anchor}" class="mono" title="{full}">{label}</a>'
            if row.status == "ok"
            else f'<span class="mono" title="{full}">{label}</span>'
        )
        body.append(
            f'<tr class="v-{text(data_verdict)}" data-verdict="{text(data_verdict)}">'
            f'<td class="v" data-sort="{row.rank}">{text(verdict)}</td>'
            f'<td class="num" data-sort="{score or -1}">{score}</td>'
            f'<td class="date" data-sort="{stamp}" title="{text(row.date, limit=80)}">{date_text}</td>'
            f'<td class="sender">{text(row.sender, limit=200)}</td>'
            f'<td class="subject">{text(row.subject, limit=300)}</td>'
            f'<td class="fids">{text(fids, limit=500)}</td>'
            f'<td class="src">{link}</td></tr>'
        )
    return (
        f'{controls}<table class="sweep" id="messages"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _short_date(value: str) -> str:
    """`2026-05-19 10:12 +0900` from an RFC 5322 date (the sender's own offset); the raw text if it does not parse."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return value[:40]
    return when.strftime("%Y-%m-%d %H:%M %z").strip()


def _short_source(source_id: str) -> str:
    return source_id.rstrip("/").rsplit("/", 1)[-1]


def _member_links(db_ids: Sequence[int], sources: dict[int, str]) -> str:
    links = [
        f'<a href="#{anchor_id("msg", m)}" class="mono" title="{text(sources.get(m, str(m)), limit=1000)}">'
        f"{text(_short_source(sources.get(m, str(m))), limit=120)}</a>"
        for m in db_ids[:_MEMBERS_LINKED]
    ]
    more = f" … +{len(db_ids) - _MEMBERS_LINKED}" if len(db_ids) > _MEMBERS_LINKED else ""
    return ", ".join(links) + more


def _campaigns(store: ResultStore, messages: Messages, sources: dict[int, str]) -> str:
    t = messages.t
    db = store.db
    members: dict[int, list[int]] = {}
    for campaign, message in db.execute("SELECT campaign, message FROM campaign_members ORDER BY campaign, message"):
        members.setdefault(campaign, []).append(message)
    rows = db.execute(
        "SELECT id, kind, key, messages, recipients, worst, first_date, last_date FROM campaigns ORDER BY id"
    ).fetchall()
    if not rows:
        return f'<p class="muted">{text(t("html.no_campaigns"))}</p>'
    out: list[str] = []
    for cid, kind, key, count, recipients, worst, first, last in rows[:_CAMPAIGNS_SHOWN]:
        shown_key = defang(key, "urls") if kind == "ioc" and "://" in key else key
        if kind in ("ioc", "infrastructure") and "://" not in key:
            shown_key = defang(key, "ips" if key.replace(".", "").isdigit() else "domains")
        try:
            worst_word = messages.verdict(Level(worst))
        except ValueError:
            worst_word = worst or ""
        first, last = _short_date(first or ""), _short_date(last or "")
        dates = f"{first} – {last}" if first and last and first != last else first or ""
        out.append(
            f'<tr class="v-{text(worst)}"><td class="v">{text(worst_word)}</td>'
            f"<td>{text(t(f'html.campaign_kind_{kind}') if kind else '')}</td>"
            f'<td class="mono">{text(shown_key, limit=200)}</td><td class="num">{int(count or 0)}</td>'
            f'<td class="num">{int(recipients or 0)}</td><td>{text(dates, limit=120)}</td>'
            f'<td class="members"><details><summary>{len(members.get(cid, []))}</summary>'
            f"{_member_links(members.get(cid, []), sources)}</details></td></tr>"
        )
    more = (
        f'<p class="muted">{text(t("html.more", n=len(rows) - _CAMPAIGNS_SHOWN))}</p>'
        if len(rows) > _CAMPAIGNS_SHOWN
        else ""
    )
    head = "".join(
        f"<th>{text(t(f'html.col_{c}'))}</th>"
        for c in ("worst", "kind", "key", "messages", "recipients", "dates", "members")
    )
    return f'<table class="campaigns"><thead><tr>{head}</tr></thead><tbody>{"".join(out)}</tbody></table>{more}'


def _ppap(store: ResultStore, messages: Messages, sources: dict[int, str]) -> str:
    t = messages.t
    rows = store.db.execute(
        "SELECT archive_message, password_message, password, delay_seconds, opened FROM ppap_pairs "
        "ORDER BY archive_message, password_message"
    ).fetchall()
    if not rows:
        return f'<p class="muted">{text(t("html.no_ppap"))}</p>'
    out = []
    for archive, giver, password, delay, opened in rows:
        delay_text = "" if delay is None else f"{float(delay) / 60:.0f} min"
        out.append(
            f"<tr><td>{_member_links([archive], sources)}</td><td>{_member_links([giver], sources)}</td>"
            f'<td><code>{text(password or "")}</code></td><td class="num">{text(delay_text)}</td>'
            f"<td>{text(t('html.yes') if opened else t('html.no'))}</td></tr>"
        )
    head = "".join(
        f"<th>{text(t(f'html.col_{c}'))}</th>" for c in ("archive", "password_mail", "password", "delay", "opened")
    )
    return f'<table class="ppap"><thead><tr>{head}</tr></thead><tbody>{"".join(out)}</tbody></table>'


def _clean_detail(row: _Row, messages: Messages) -> str:
    t = messages.t
    kv = [
        (t("html.hdr_from"), row.sender),
        (t("html.hdr_subject"), row.subject),
        (t("html.hdr_date"), row.date),
        (t("html.col_findings"), " ".join(row.findings)),
    ]
    body = "".join(f'<tr><th>{text(k)}</th><td class="pre">{text(v, limit=500)}</td></tr>' for k, v in kv if v)
    return (
        f'<details class="clean-detail"><summary>{verdict_badge(messages, Level.CLEAN)} '
        f'<span class="mono">{text(row.source_id, limit=200)}</span> — {text(row.subject, limit=200)}</summary>'
        f'<div id="{row.anchor}"><table class="kv">{body}</table>'
        f'<p class="back"><a href="#messages">{text(t("html.back"))}</a></p></div></details>'
    )


def render_sweep_html(store: ResultStore, messages: Messages, scoring: ScoringTable, *, title: str = "") -> str:
    t = messages.t
    store.flush()
    rows = _rows(store)
    sources = {r.id: r.source_id for r in rows}
    body: list[str] = [
        f"<header><h1>{text(t('html.title_sweep'))}</h1>"
        + (f'<p class="mono muted">{text(title)}</p>' if title else "")
        + "</header>",
        f"<h2>{text(t('html.section_counts'))}</h2>{_counts(rows, messages)}",
        f'<h2 id="table">{text(t("html.section_table"))}</h2>{_table(rows, messages)}',
        f"<h2>{text(t('html.section_campaigns'))}</h2>{_campaigns(store, messages, sources)}",
        f"<h2>{text(t('html.section_ppap'))}</h2>{_ppap(store, messages, sources)}",
    ]
    flagged = [r for r in rows if r.status == "ok" and r.rank > 0]
    clean = [r for r in rows if r.status == "ok" and r.rank <= 0]
    tool: tuple[str, str] | None = None
    if flagged:
        body.append(f"<h2>{text(t('html.section_details'))}</h2>")
        for row in flagged:
            report = store.report(row.id)
            if report is None:
                continue
            tool = tool or (report.tool_name, report.tool_version)
            body.append(report_section(report, messages, scoring, anchor=row.anchor, heading=row.source_id))
            body.append(f'<p class="back"><a href="#messages">{text(t("html.back"))}</a></p>')
    if clean:
        body.append(f"<h2>{text(t('html.section_clean'))}</h2>")
        body.extend(_clean_detail(row, messages) for row in clean)
    if tool:
        body.insert(1, f'<p class="tool">{text(t("html.generated", tool=tool[0], version=tool[1]))}</p>')
    return page(messages, t("html.title_sweep"), "\n".join(body))


def write_sweep_html(out: Path, messages: Messages, scoring: ScoringTable) -> Path:
    """Render `out/report.html` from `out/results.sqlite` (written through a temporary file, then renamed)."""
    store = ResultStore(out / DB_NAME)
    try:
        document = render_sweep_html(store, messages, scoring, title=str(out))
    finally:
        store.close()
    target = out / HTML_NAME
    tmp = out / (HTML_NAME + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(target)
    return target
