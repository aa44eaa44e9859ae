"""Reports as one self-contained HTML page (`triage scan --html FILE`); the building blocks of the sweep page.

The page loads nothing: its CSS and script (package data under `assets/`) are inlined and allowed by their hashes
in a `Content-Security-Policy` meta whose default is `'none'`, so neither a stray reference nor injected markup
can fetch or run anything. Every value that came from a message goes through `text()`: control and bidi
characters become visible `\\uXXXX` escapes (so an RLO cannot reorder the page), then HTML escaping with quotes,
the same in element text and in attributes. URLs from the message are shown as defanged text, never as links.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources

from triage.model import Artifact, Finding, Level, MessageInfo, Report
from triage.names import escape_controls
from triage.report.defang import defang
from triage.report.i18n import Messages
from triage.scoring.table import ScoringTable

__all__ = ["page", "render_html", "report_section", "text"]

_IOC_KINDS = ("urls", "domains", "ips", "emails", "hashes")
_IOC_SHOWN = 200  # per kind; the JSON report has them all
_EVIDENCE_SHOWN = 40  # per finding
_EVIDENCE_CHARS = 2000  # per evidence line
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def text(value: object, *, limit: int | None = None) -> str:
    """Message-derived text, safe as HTML element text and as a quoted attribute value. Newlines stay newlines."""
    if value is None:
        return ""
    raw = str(value)
    if limit is not None and len(raw) > limit:
        raw = raw[:limit] + "…"
    return "\n".join(html.escape(escape_controls(line), quote=True) for line in raw.split("\n"))


def anchor_id(*parts: object) -> str:
    """An element id made only of [A-Za-z0-9_-], whatever the parts were."""
    return "-".join(_UNSAFE_ID.sub("_", str(p)) for p in parts)


def _asset(name: str) -> str:
    return (resources.files("triage.report") / "assets" / name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def page(messages: Messages, title: str, body: str) -> str:
    """A whole document around `body` (already safe HTML), with the inlined CSS and script and a strict CSP."""
    css = _asset("report.css")
    js = _asset("report.js")
    csp = (
        f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    lang = text(messages.lang)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=True)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{text(title)}</title>\n<style>{css}</style>\n</head>\n"
        f'<body data-copied="{text(messages.t("html.copied"))}">\n{body}\n'
        f"<script>{js}</script>\n</body>\n</html>\n"
    )


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def verdict_badge(messages: Messages, level: Level) -> str:
    return f'<span class="verdict {level.value}">{text(messages.verdict(level))}</span>'


def _address(info: MessageInfo) -> str:
    sender = info.from_ or ""
    if info.from_display:
        return f"{info.from_display} <{sender}>"
    return sender


def headers_table(info: MessageInfo, messages: Messages) -> str:
    t = messages.t
    rows: list[tuple[str, str]] = []

    def add(key: str, value: str | None) -> None:
        if value:
            rows.append((t(f"html.hdr_{key}"), f'<span class="pre">{text(value)}</span>'))

    add("from", _address(info))
    add("sender", info.sender)
    add("reply_to", ", ".join(info.reply_to))
    add("return_path", info.return_path)
    add("to", ", ".join(info.to[:20]) + (" …" if len(info.to) > 20 else ""))
    add("subject", info.subject)
    add("date", info.date)
    add("message_id", info.message_id)
    auth = info.authentication
    rows.append(
        (
            t("html.hdr_auth"),
            f"<code>spf={text(auth.spf or '-')} dkim={text(auth.dkim or '-')} dmarc={text(auth.dmarc or '-')}</code>",
        )
    )
    if info.received:
        hops = []
        for hop in info.received:
            if hop.from_ or hop.by:
                parts = [
                    f"<code>{text(hop.from_ or '?')}</code> → <code>{text(hop.by or '?')}</code>",
                ]
                if hop.with_:
                    parts.append(f'<span class="muted">{text(t("html.hop_with"))} {text(hop.with_)}</span>')
                if hop.date:
                    parts.append(f'<span class="muted">{text(hop.date)}</span>')
                hops.append("<li>" + " ".join(parts) + "</li>")
            else:
                hops.append(f'<li><code class="pre">{text(hop.raw, limit=1000)}</code></li>')
        rows.append(
            (
                t("html.hdr_received"),
                f'<span class="muted">{text(t("html.hops", n=len(info.received)))}</span>'
                f'<ol class="hops">{"".join(hops)}</ol>',
            )
        )
    body = "".join(f"<tr><th>{text(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _score_table(report: Report, messages: Messages, scoring: ScoringTable) -> str:
    t = messages.t
    groups = sorted(((g, v) for g, v in report.score.groups.items() if v), key=lambda gv: (-gv[1], gv[0]))
    rows = "".join(
        f'<tr><td title="{text(g)}">{text(messages.group(g))}</td><td class="num">{v:g}</td>'
        f'<td class="num muted">{scoring.group_caps.get(g, 0):g}</td></tr>'
        for g, v in groups
    )
    total = (
        f'<tr><th>{text(t("html.total"))}</th><th class="num">{report.score.total:g}</th><th></th></tr>'
        if groups
        else ""
    )
    thresholds = text(t("html.thresholds", suspicious=f"{scoring.suspicious:g}", malicious=f"{scoring.malicious:g}"))
    if not groups:
        return f'<p class="muted">{text(t("html.no_score"))} {thresholds}</p>'
    return (
        f'<table class="score"><thead><tr><th>{text(t("html.col_group"))}</th><th class="num">'
        f'{text(t("html.col_score"))}</th><th class="num">{text(t("html.col_cap"))}</th></tr></thead>'
        f'<tbody>{rows}{total}</tbody></table><p class="muted">{thresholds}</p>'
    )


def _artifact_label(art: Artifact, messages: Messages, weighted: set[str], prefix: str) -> str:
    t = messages.t
    if art.name is not None:
        name = f'<span class="art-name mono">{text(art.name)}</span>'
    elif art.depth == 0:
        name = f'<span class="art-name">{text(t("html.message_root"))}</span>'
    else:
        name = f'<span class="art-name muted">{text(t("html.part", type=art.declared_type or "?"))}</span>'
    parts = [name]
    if art.name and art.display_name and art.display_name != art.name:
        parts.append(
            f'<span class="shown">{text(t("html.shown_as"))} <span class="mono">"{text(art.display_name)}"</span>'
            "</span>"
        )
    parts.append("".join(f'<span class="tag">{text(tag)}</span>' for tag in art.types) or '<span class="tag">?</span>')
    if art.declared_type and art.name is not None:
        parts.append(f'<span class="muted">{text(art.declared_type)}</span>')
    parts.append(f'<span class="muted">{text(size_text(art.size))}</span>')
    for key in ("password", "unreadable"):
        if key in art.meta:
            parts.append(
                f'<span class="muted">{text(t(f"html.meta_{key}"))}: <code>{text(art.meta[key])}</code></span>'
            )
    hashes = " ".join(
        f"{label}:<code>{text(value)}</code>"
        for label, value in (("sha256", art.sha256), ("sha1", art.sha1), ("md5", art.md5))
        if value
    )
    flagged = " flagged" if art.id in weighted else ""
    return (
        f'<li class="node{flagged}" id="{anchor_id(prefix, "art", art.id)}"><div class="art">{" ".join(parts)}'
        f'<div class="hashes">{hashes}</div></div>'
    )


def artifact_tree(report: Report, messages: Messages, prefix: str) -> str:
    """Nested lists from the parent links, built without recursion (the tree comes from an attacker's nesting)."""
    if not report.artifacts:
        return ""
    weighted = {f.artifact for f in report.findings if f.weight > 0}
    known = {a.id for a in report.artifacts}
    children: dict[str | None, list[Artifact]] = {}
    for node in report.artifacts:
        parent = node.parent if node.parent in known and node.parent != node.id else None
        children.setdefault(parent, []).append(node)
    out: list[str] = ['<ul class="tree">']
    seen: set[str] = set()
    # stack of iterators over sibling lists; each level closes its <ul> when exhausted
    stack: list[Iterator[Artifact]] = [iter(children.get(None, []))]
    while stack:
        art = next(stack[-1], None)
        if art is None:
            stack.pop()
            out.append("</ul></li>" if stack else "</ul>")
            continue
        if art.id in seen:
            continue
        seen.add(art.id)
        out.append(_artifact_label(art, messages, weighted, prefix))
        kids = [k for k in children.get(art.id, []) if k.id not in seen]
        if kids:
            out.append("<ul>")
            stack.append(iter(kids))
        else:
            out.append("</li>")
    return "".join(out)


def _where(report: Report, messages: Messages, finding: Finding, prefix: str) -> str:
    try:
        art = report.artifact(finding.artifact)
    except KeyError:
        return text(finding.artifact)
    if art.depth == 0:
        label = text(messages.t("html.message_root"))
    elif art.name is not None:
        label = f'<span class="mono">{text(art.name)}</span>'
    else:
        label = text(messages.t("html.part", type=art.declared_type or "?"))
    return f'<a href="#{anchor_id(prefix, "art", art.id)}">{label}</a>'


def findings_section(report: Report, messages: Messages, scoring: ScoringTable, prefix: str) -> str:
    t = messages.t
    if not report.findings:
        return f'<p class="muted">{text(t("html.no_findings"))}</p>'
    by_group: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_group.setdefault(scoring.group(finding.id), []).append(finding)
    order = sorted(by_group, key=lambda g: (-report.score.groups.get(g, 0.0), g))
    out: list[str] = []
    for group in order:
        out.append(f'<h4 title="{text(group)}">{text(messages.group(group))}</h4>')
        for f in sorted(by_group[group], key=lambda f: (-f.weight, f.id)):
            evidence = "".join(
                f'<li class="pre">{text(e, limit=_EVIDENCE_CHARS)}</li>' for e in f.evidence[:_EVIDENCE_SHOWN]
            )
            if len(f.evidence) > _EVIDENCE_SHOWN:
                evidence += f'<li class="muted">{text(t("html.more", n=len(f.evidence) - _EVIDENCE_SHOWN))}</li>'
            description = messages.finding_description(f.id)
            weighted = " weighted" if f.weight > 0 else ""
            out.append(
                f'<div class="finding{weighted}" data-finding="{text(f.id)}">'
                f'<span class="weight">{text(t("html.weight"))} {f.weight:g}</span>'
                f'<span class="fid">{text(f.id)}</span> — <strong>{text(messages.finding_title(f.id))}</strong>'
                + (f'<div class="muted">{text(description)}</div>' if description else "")
                + f'<div class="muted">{text(t("html.where"))}: {_where(report, messages, f, prefix)}</div>'
                + (f'<ul class="evidence">{evidence}</ul>' if evidence else "")
                + "</div>"
            )
    return "".join(out)


def iocs_section(report: Report, messages: Messages) -> str:
    t = messages.t
    names = {a.sha256: a.name for a in report.artifacts if a.sha256 and a.name}
    out: list[str] = []
    values: Mapping[str, Sequence[str]] = {
        "urls": report.iocs.urls,
        "domains": report.iocs.domains,
        "ips": report.iocs.ips,
        "emails": report.iocs.emails,
        "hashes": report.iocs.hashes,
    }
    copy = text(t("html.copy"))
    for kind in _IOC_KINDS:
        items = values[kind]
        if not items:
            continue
        rows = []
        for value in items[:_IOC_SHOWN]:
            extra = ""
            if kind == "hashes" and names.get(value):
                extra = f' <span class="muted mono">{text(names[value])}</span>'
            rows.append(
                f'<div class="ioc" data-kind="{kind}"><code>{text(defang(value, kind))}</code>'
                f'<button type="button" class="copy">{copy}</button>{extra}</div>'
            )
        if len(items) > _IOC_SHOWN:
            rows.append(f'<div class="muted">{text(t("html.more", n=len(items) - _IOC_SHOWN))}</div>')
        out.append(f"<h4>{text(t(f'html.ioc_{kind}'))} ({len(items)})</h4>{''.join(rows)}")
    return "".join(out)


def notes_section(report: Report, messages: Messages) -> str:
    items = "".join(
        f"<li><strong>{text(messages.note_kind(n.kind))}</strong> <code>{text(n.component)}</code> "
        f'<span class="pre">{text(n.detail, limit=_EVIDENCE_CHARS)}</span></li>'
        for n in report.notes
    )
    return f'<ul class="notes">{items}</ul>'


def report_section(
    report: Report, messages: Messages, scoring: ScoringTable, *, anchor: str, heading: str | None = None
) -> str:
    """One message's detail as a `<section id=anchor>`; `heading` defaults to the input name."""
    t = messages.t
    level = report.verdict.level
    out: list[str] = [f'<section class="message" id="{anchor_id(anchor)}" data-verdict="{level.value}">']
    title = heading if heading is not None else (report.input.name or report.message.subject or "")
    out.append(f'<h2 class="mono">{text(title)}</h2>')
    out.append(
        f'<div class="headline">{verdict_badge(messages, level)}'
        f'<span class="score">{text(t("html.score", score=f"{report.score.total:g}"))}</span>'
    )
    if not report.verdict.complete:
        out.append(f'<span class="incomplete">{text(t("html.incomplete"))}</span>')
    out.append(
        f'<span class="muted">{text(t("html.input"))}: {text(size_text(report.input.size))} '
        f"sha256:<code>{text(report.input.sha256)}</code></span></div>"
    )
    out.append(f"<h3>{text(t('html.section_score'))}</h3>{_score_table(report, messages, scoring)}")
    if report.forwarded_by is not None:
        out.append(f"<h3>{text(t('html.section_forwarded'))}</h3>{headers_table(report.forwarded_by, messages)}")
        out.append(f"<h3>{text(t('html.section_original'))}</h3>")
    else:
        out.append(f"<h3>{text(t('html.section_message'))}</h3>")
    out.append(headers_table(report.message, messages))
    out.append(f"<h3>{text(t('html.section_findings'))}</h3>{findings_section(report, messages, scoring, anchor)}")
    if report.notes:
        out.append(f"<h3>{text(t('html.section_notes'))}</h3>{notes_section(report, messages)}")
    if report.artifacts:
        out.append(f"<h3>{text(t('html.section_artifacts'))}</h3>{artifact_tree(report, messages, anchor)}")
    iocs = iocs_section(report, messages)
    if iocs:
        out.append(f"<h3>{text(t('html.section_iocs'))}</h3>{iocs}")
    defects = report.artifacts[0].meta.get("defects") if report.artifacts else None
    if defects and isinstance(defects, list):
        out.append(f'<p class="muted">{text(t("html.defects"))}: {text(", ".join(map(str, defects[:8])))}</p>')
    out.append("</section>")
    return "".join(out)


def tool_line(messages: Messages, reports: Sequence[Report]) -> str:
    tool = reports[0] if reports else None
    name = tool.tool_name if tool else "triage"
    version = tool.tool_version if tool else ""
    return f'<p class="tool">{text(messages.t("html.generated", tool=name, version=version))}</p>'


def render_html(reports: Sequence[Report], messages: Messages, scoring: ScoringTable) -> str:
    """One page for one or several scanned messages; several get an index linking to each detail."""
    t = messages.t
    body: list[str] = [f"<header><h1>{text(t('html.title_scan'))}</h1>{tool_line(messages, reports)}</header>"]
    anchors = [f"m{index}" for index in range(1, len(reports) + 1)]
    if len(reports) > 1:
        rows = "".join(
            f'<tr class="v-{r.verdict.level.value}"><td class="v">{text(messages.verdict(r.verdict.level))}</td>'
            f'<td class="num">{r.score.total:g}</td><td><a href="#{a}" class="mono">{text(r.input.name or a)}</a></td>'
            f'<td class="subject">{text(r.message.subject)}</td></tr>'
            for r, a in zip(reports, anchors, strict=True)
        )
        body.append(
            f"<h2>{text(t('html.index'))}</h2><table><thead><tr><th>{text(t('html.col_verdict'))}</th>"
            f'<th class="num">{text(t("html.col_score"))}</th><th>{text(t("html.col_source"))}</th>'
            f"<th>{text(t('html.col_subject'))}</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if not reports:
        body.append(f'<p class="muted">{text(t("html.no_messages"))}</p>')
    for report, anchor in zip(reports, anchors, strict=True):
        body.append(report_section(report, messages, scoring, anchor=anchor))
    title = t("html.title_scan")
    if len(reports) == 1:
        title = f"{messages.verdict(reports[0].verdict.level)} — {reports[0].input.name or title}"
    return page(messages, title, "\n".join(body))
