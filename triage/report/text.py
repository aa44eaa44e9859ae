"""A Report as a readable terminal report (rich): verdict, message, attachment tree, findings, notes.

Everything that came from the message goes through `escape_controls` and is passed to rich as `Text`, never as
markup, so a crafted subject can neither inject markup nor reorder the terminal with bidi controls. Every word of
our own comes from a `Messages` (rules/i18n), English unless the caller passes another language.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from triage.model import Artifact, Level, MessageInfo, Report
from triage.names import escape_controls
from triage.report.defang import defang
from triage.report.i18n import Messages, load_messages
from triage.scoring.table import ScoringTable

_LEVEL_STYLE = {Level.CLEAN: "bold green", Level.SUSPICIOUS: "bold yellow", Level.MALICIOUS: "bold red"}
_VERDICT_CELLS = 10  # the verdict column of the one-line summary


def _safe(value: object) -> str:
    return escape_controls(str(value)) if value is not None else ""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _messages(messages: Messages | None, table: ScoringTable | None) -> Messages:
    return messages if messages is not None else load_messages("en", table)


def _verdict_word(level: Level, m: Messages) -> str:
    # English shouts the level (MALICIOUS); upper() leaves Japanese as it is
    return m.verdict(level).upper()


def _message_table(info: MessageInfo, m: Messages) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    sender = info.from_ or ""
    if info.from_display:
        sender = f"{info.from_display} <{sender}>"
    rows = [
        (m.t("text.header_from"), sender),
        (m.t("text.header_subject"), info.subject),
        (m.t("text.header_date"), info.date),
        (m.t("text.header_to"), ", ".join(info.to[:5]) + (" …" if len(info.to) > 5 else "")),
        (m.t("text.header_reply_to"), ", ".join(info.reply_to)),
        (m.t("text.header_return_path"), info.return_path),
        (m.t("text.header_message_id"), info.message_id),
    ]
    auth = info.authentication
    if auth.spf or auth.dkim or auth.dmarc:
        rows.append(
            (m.t("text.header_auth"), f"spf={auth.spf or '-'} dkim={auth.dkim or '-'} dmarc={auth.dmarc or '-'}")
        )
    if info.received:
        first = info.received[0].from_ or info.received[0].raw
        rows.append((m.t("text.header_received"), m.t("text.received_hops", count=len(info.received), first=first)))
    for key, value in rows:
        if value:
            table.add_row(key, Text(_safe(value)))
    return table


def _artifact_name(art: Artifact, m: Messages) -> str:
    if art.name is not None:
        return _safe(art.name)
    if art.depth == 0:
        return m.t("text.message_node")
    return m.t("text.part_node", type=_safe(art.declared_type or m.t("text.unnamed")))


def _artifact_label(art: Artifact, flagged: set[str], m: Messages) -> Text:
    label = Text()
    label.append(_artifact_name(art, m), style="bold red" if art.id in flagged else "bold")
    if art.name and art.display_name and art.display_name != art.name:
        label.append(m.t("text.shown_as", name=_safe(art.display_name)), style="red")
    label.append(f"  [{', '.join(art.types) or '?'}]", style="cyan")
    label.append(f"  {_size(art.size)}", style="dim")
    if art.sha256:
        label.append(f"  sha256:{art.sha256[:16]}…", style="dim")
    for key in ("password", "unreadable"):
        if key in art.meta:
            label.append(f"  {m.t(f'text.meta_{key}')}: {_safe(art.meta[key])}", style="magenta")
    return label


def _tree(report: Report, m: Messages) -> Tree | None:
    if not report.artifacts:
        return None
    flagged = {f.artifact for f in report.findings if f.weight > 0}
    nodes: dict[str, Tree] = {}
    root: Tree | None = None
    for art in report.artifacts:
        label = _artifact_label(art, flagged, m)
        parent = nodes.get(art.parent) if art.parent else None
        node = parent.add(label) if parent is not None else Tree(label)
        if parent is None and root is None:
            root = node
        nodes[art.id] = node
    return root


def _findings_table(report: Report, m: Messages) -> Table:
    names = {
        a.id: (
            m.t("text.message_node")
            if a.depth == 0
            else (_safe(a.name) if a.name else m.t("text.part_node", type=_safe(a.declared_type or a.id)))
        )
        for a in report.artifacts
    }
    out = Table(show_edge=False, expand=False, pad_edge=False)
    out.add_column(m.t("text.column_weight"), justify="right")
    out.add_column(m.t("text.column_finding"), overflow="fold")  # a Japanese title has no spaces to wrap at
    out.add_column(m.t("text.column_where"))
    out.add_column(m.t("text.column_evidence"))
    for f in sorted(report.findings, key=lambda f: (-f.weight, f.id)):
        title = m.finding_title(f.id)
        head = Text(f.id, style="bold")
        if title and title != f.id:
            head.append(f"\n{title}", style="dim")
        out.add_row(
            f"{f.weight:g}",
            head,
            Text(names.get(f.artifact, _safe(f.artifact))),
            Text("\n".join(_safe(e) for e in f.evidence)),
        )
    return out


_IOC_SHOWN = 20  # per kind; the JSON report has them all
_IOC_KINDS = ("urls", "domains", "ips", "emails", "hashes")


def _iocs_table(report: Report, m: Messages) -> Table | None:
    """Indicators, defanged so none is a live link in a terminal or a pasted ticket; exact values are in JSON."""
    iocs = report.iocs
    names = {a.sha256: a.name for a in report.artifacts if a.sha256 and a.name}
    out = Table.grid(padding=(0, 2))
    out.add_column(style="bold")
    out.add_column()
    for kind in _IOC_KINDS:
        values: Sequence[str] = getattr(iocs, kind)
        label = m.t(f"text.ioc_{kind}")
        for index, value in enumerate(values[:_IOC_SHOWN]):
            shown = defang(value, kind)
            if kind == "hashes" and names.get(value):
                shown += f"  {names[value]}"
            out.add_row(label if index == 0 else "", Text(_safe(shown)))
        if len(values) > _IOC_SHOWN:
            out.add_row("", Text(m.t("text.ioc_more", count=len(values) - _IOC_SHOWN), style="dim"))
    return out if out.row_count else None


def _heading(text: str) -> Text:
    return Text(text, style="bold underline")


def report_renderables(report: Report, table: ScoringTable | None = None, messages: Messages | None = None) -> Group:
    m = _messages(messages, table)
    level = report.verdict.level
    headline = Text()
    headline.append(_verdict_word(level, m), style=_LEVEL_STYLE[level])
    headline.append(m.t("text.score", score=f"{report.score.total:g}"))
    if not report.verdict.complete:
        headline.append(m.t("text.incomplete"), style="yellow")
    if report.input.name:
        headline.append(f"\n{_safe(report.input.name)}", style="dim")
    parts: list[object] = [Panel(headline, expand=False)]
    if report.forwarded_by is not None:
        parts.append(_heading(m.t("text.forwarded_by")))
        parts.append(_message_table(report.forwarded_by, m))
        parts.append(_heading(m.t("text.original_message")))
    parts.append(_message_table(report.message, m))
    tree = _tree(report, m)
    if tree is not None:
        parts.append(_heading(m.t("text.artifacts")))
        parts.append(tree)
    if report.findings:
        parts.append(_heading(m.t("text.findings")))
        parts.append(_findings_table(report, m))
        if report.score.groups:
            groups = "  ".join(f"{m.group(g)}={v:g}" for g, v in report.score.groups.items() if v)
            parts.append(Text(m.t("text.score_by_group", groups=groups), style="dim"))
    iocs = _iocs_table(report, m)
    if iocs is not None:
        parts.append(_heading(m.t("text.indicators")))
        parts.append(iocs)
    if report.notes:
        parts.append(_heading(m.t("text.not_analysed")))
        for note in report.notes:
            line = m.t(
                "text.note_line",
                id=note.kind.value,
                kind=m.note_kind(note.kind),
                component=note.component,
                detail=_safe(note.detail),
            )
            parts.append(Text(line, style="yellow"))
    defects = report.artifacts[0].meta.get("defects") if report.artifacts else None
    if defects:
        parts.append(Text(m.t("text.parser_defects", defects=_safe(", ".join(map(str, defects[:8])))), style="dim"))
    return Group(*parts)  # type: ignore[arg-type]


def render_text(
    reports: Sequence[Report],
    table: ScoringTable | None = None,
    *,
    width: int = 110,
    color: bool = False,
    messages: Messages | None = None,
) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    print_reports(console, reports, table, messages=messages)
    return buffer.getvalue()


def print_reports(
    console: Console, reports: Sequence[Report], table: ScoringTable | None = None, *, messages: Messages | None = None
) -> None:
    m = _messages(messages, table)
    for index, report in enumerate(reports):
        if index:
            console.rule()
        console.print(report_renderables(report, table, m))


def print_summary(console: Console, reports: Sequence[Report], *, messages: Messages | None = None) -> None:
    """One line per message: verdict, score, the scored finding ids, the input name."""
    m = _messages(messages, None)
    for report in reports:
        level = report.verdict.level
        word = _verdict_word(level, m)
        line = Text()
        # padded by terminal cells, not characters: 悪性 is four columns wide
        line.append(word + " " * max(0, _VERDICT_CELLS - cell_len(word)), style=_LEVEL_STYLE[level])
        line.append(f" {report.score.total:>5g} ")
        line.append("  " if report.verdict.complete else "! ", style="yellow")
        line.append(_safe(report.input.name or "-"))
        ids = sorted({f.id for f in report.findings if f.weight > 0 or f.id == "FORWARDED_ORIGINAL"})
        if ids:
            line.append("  " + " ".join(ids), style="dim")
        console.print(line, overflow="fold")
