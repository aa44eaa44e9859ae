"""A Report as a readable terminal report (rich): verdict, message, attachment tree, findings, notes.

Everything that came from the message goes through `escape_controls` and is passed to rich as `Text`, never as
markup, so a crafted subject can neither inject markup nor reorder the terminal with bidi controls.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from triage.model import Artifact, Level, MessageInfo, Report
from triage.names import escape_controls
from triage.report.defang import defang
from triage.scoring.table import ScoringTable

_LEVEL_STYLE = {Level.CLEAN: "bold green", Level.SUSPICIOUS: "bold yellow", Level.MALICIOUS: "bold red"}


def _safe(value: object) -> str:
    return escape_controls(str(value)) if value is not None else ""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _message_table(info: MessageInfo, title: str) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    sender = info.from_ or ""
    if info.from_display:
        sender = f"{info.from_display} <{sender}>"
    rows = [
        ("From", sender),
        ("Subject", info.subject),
        ("Date", info.date),
        ("To", ", ".join(info.to[:5]) + (" …" if len(info.to) > 5 else "")),
        ("Reply-To", ", ".join(info.reply_to)),
        ("Return-Path", info.return_path),
        ("Message-ID", info.message_id),
    ]
    auth = info.authentication
    if auth.spf or auth.dkim or auth.dmarc:
        rows.append(("Auth", f"spf={auth.spf or '-'} dkim={auth.dkim or '-'} dmarc={auth.dmarc or '-'}"))
    if info.received:
        rows.append(
            (
                "Received",
                f"{len(info.received)} hop(s); first: {info.received[0].from_ or info.received[0].raw}",
            )
        )
    for key, value in rows:
        if value:
            table.add_row(key, Text(_safe(value)))
    return table


def _artifact_label(art: Artifact, flagged: set[str]) -> Text:
    label = Text()
    if art.name is not None:
        name = _safe(art.name)
    elif art.depth == 0:
        name = "(message)"
    else:
        name = f"({_safe(art.declared_type or 'unnamed')} part)"
    label.append(name, style="bold red" if art.id in flagged else "bold")
    if art.name and art.display_name and art.display_name != art.name:
        label.append(f'  shown as "{_safe(art.display_name)}"', style="red")
    label.append(f"  [{', '.join(art.types) or '?'}]", style="cyan")
    label.append(f"  {_size(art.size)}", style="dim")
    if art.sha256:
        label.append(f"  sha256:{art.sha256[:16]}…", style="dim")
    for key in ("password", "unreadable"):
        if key in art.meta:
            label.append(f"  {key}: {_safe(art.meta[key])}", style="magenta")
    return label


def _tree(report: Report) -> Tree | None:
    if not report.artifacts:
        return None
    flagged = {f.artifact for f in report.findings if f.weight > 0}
    nodes: dict[str, Tree] = {}
    root: Tree | None = None
    for art in report.artifacts:
        label = _artifact_label(art, flagged)
        parent = nodes.get(art.parent) if art.parent else None
        node = parent.add(label) if parent is not None else Tree(label)
        if parent is None and root is None:
            root = node
        nodes[art.id] = node
    return root


def _findings_table(report: Report, table: ScoringTable | None) -> Table:
    names = {
        a.id: ("(message)" if a.depth == 0 else (a.name or f"({a.declared_type or a.id} part)"))
        for a in report.artifacts
    }
    out = Table(show_edge=False, expand=False, pad_edge=False)
    out.add_column("weight", justify="right")
    out.add_column("finding")
    out.add_column("where")
    out.add_column("evidence")
    for f in sorted(report.findings, key=lambda f: (-f.weight, f.id)):
        title = table.title(f.id) if table is not None else ""
        head = Text(f.id, style="bold")
        if title and title != f.id:
            head.append(f"\n{title}", style="dim")
        out.add_row(
            f"{f.weight:g}",
            head,
            Text(_safe(names.get(f.artifact, f.artifact))),
            Text("\n".join(_safe(e) for e in f.evidence)),
        )
    return out


_IOC_SHOWN = 20  # per kind; the JSON report has them all


def _iocs_table(report: Report) -> Table | None:
    """Indicators, defanged so none is a live link in a terminal or a pasted ticket; exact values are in JSON."""
    iocs = report.iocs
    names = {a.sha256: a.name for a in report.artifacts if a.sha256 and a.name}
    out = Table.grid(padding=(0, 2))
    out.add_column(style="bold")
    out.add_column()
    for kind, label, values in (
        ("urls", "URL", iocs.urls),
        ("domains", "domain", iocs.domains),
        ("ips", "IP", iocs.ips),
        ("emails", "email", iocs.emails),
        ("hashes", "sha256", iocs.hashes),
    ):
        for index, value in enumerate(values[:_IOC_SHOWN]):
            shown = defang(value, kind)
            if kind == "hashes" and names.get(value):
                shown += f"  {names[value]}"
            out.add_row(label if index == 0 else "", Text(_safe(shown)))
        if len(values) > _IOC_SHOWN:
            out.add_row("", Text(f"… {len(values) - _IOC_SHOWN} more (see --json)", style="dim"))
    return out if out.row_count else None


def report_renderables(report: Report, table: ScoringTable | None = None) -> Group:
    level = report.verdict.level
    headline = Text()
    headline.append(level.value.upper(), style=_LEVEL_STYLE[level])
    headline.append(f"  score {report.score.total:g}")
    if not report.verdict.complete:
        headline.append("  (incomplete: part of the message was not analysed)", style="yellow")
    if report.input.name:
        headline.append(f"\n{_safe(report.input.name)}", style="dim")
    parts: list[object] = [Panel(headline, expand=False)]
    if report.forwarded_by is not None:
        parts.append(Text("Forwarded by", style="bold underline"))
        parts.append(_message_table(report.forwarded_by, "forwarded by"))
        parts.append(Text("Original message (analysed)", style="bold underline"))
    parts.append(_message_table(report.message, "message"))
    tree = _tree(report)
    if tree is not None:
        parts.append(Text("Artifacts", style="bold underline"))
        parts.append(tree)
    if report.findings:
        parts.append(Text("Findings", style="bold underline"))
        parts.append(_findings_table(report, table))
        if report.score.groups:
            groups = "  ".join(f"{g}={v:g}" for g, v in report.score.groups.items() if v)
            parts.append(Text(f"score by group: {groups}", style="dim"))
    iocs = _iocs_table(report)
    if iocs is not None:
        parts.append(Text("Indicators (defanged; exact values with --json)", style="bold underline"))
        parts.append(iocs)
    if report.notes:
        parts.append(Text("Not analysed", style="bold underline"))
        for note in report.notes:
            parts.append(Text(f"- {note.kind.value} [{note.component}] {_safe(note.detail)}", style="yellow"))
    defects = report.artifacts[0].meta.get("defects") if report.artifacts else None
    if defects:
        parts.append(Text(f"parser defects: {_safe(', '.join(map(str, defects[:8])))}", style="dim"))
    return Group(*parts)  # type: ignore[arg-type]


def render_text(
    reports: Sequence[Report], table: ScoringTable | None = None, *, width: int = 110, color: bool = False
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
    for index, report in enumerate(reports):
        if index:
            console.rule()
        console.print(report_renderables(report, table))
    return buffer.getvalue()


def print_reports(console: Console, reports: Sequence[Report], table: ScoringTable | None = None) -> None:
    for index, report in enumerate(reports):
        if index:
            console.rule()
        console.print(report_renderables(report, table))


def print_summary(console: Console, reports: Sequence[Report]) -> None:
    """One line per message: verdict, score, the scored finding ids, the input name."""
    for report in reports:
        level = report.verdict.level
        line = Text()
        line.append(f"{level.value.upper():<10}", style=_LEVEL_STYLE[level])
        line.append(f" {report.score.total:>5g} ")
        line.append("  " if report.verdict.complete else "! ", style="yellow")
        line.append(_safe(report.input.name or "-"))
        ids = sorted({f.id for f in report.findings if f.weight > 0 or f.id == "FORWARDED_ORIGINAL"})
        if ids:
            line.append("  " + " ".join(ids), style="dim")
        console.print(line, overflow="fold")
