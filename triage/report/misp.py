"""A Report as a MISP event (`{"Event": {...}}`), built offline with PyMISP and its bundled object templates.

The event holds the standard `email` object (sender, recipients, subject, Message-ID, date, Received lines,
attachment names), a `file` object per attachment or archive member the report hashed (name, MD5/SHA-1/SHA-256,
size, MIME type), a `url` object per URL and a `domain-ip` object per domain or IP address. References: the email
`includes` its attachments, an archive `contains` its members, a payload `connects-to` the URLs and hosts found in
it, and the email `contains` the URLs found in its text.

`to_ids` follows the sharing policy of `triage.report.stix.share_plan`: True for the hashes of files where
something was found, for URLs / domains / public IPs of a suspicious or malicious message (except the victim's own
domain and government hosts) and for the sender of a malicious one; False for recipients, subjects, names, dates
and everything of a clean message. Tags: the TLP level (tlp:amber by default), `triage:verdict="…"` and one
`triage:finding="ID"` per finding id. Threat level: malicious → high, suspicious → medium, clean → low (undefined
when the scan was incomplete); analysis: completed, or ongoing when part of the message could not be analysed.
Distribution: your organisation only; whoever shares the event widens it. An address field whose value is not an
ASCII RFC 5322 address (a homoglyph domain, a bare name) is kept as a `header` attribute, as it came.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from triage.model import Level, Report
from triage.report.json import escape_unsafe
from triage.report.stix import (
    SharePlan,
    base_name,
    is_address,
    message_date,
    sender_detectable,
    share_plan,
)
from triage.report.tlp import DEFAULT_TLP, TLP_LEVELS

_THREAT_LEVEL = {Level.MALICIOUS: 1, Level.SUSPICIOUS: 2, Level.CLEAN: 3}  # 1 high, 2 medium, 3 low, 4 undefined
_ANALYSIS_ONGOING, _ANALYSIS_COMPLETED = 1, 2
_DISTRIBUTION_ORG_ONLY = 0
_INFO_MAX = 200


def _tag_value(text: str) -> str:
    # a machine tag's value is quoted: a quote inside it would end the value early
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _ip_version(value: str) -> int | None:
    try:
        return ipaddress.ip_address(value).version
    except ValueError:
        return None


def _add(obj: Any, relation: str, value: object, to_ids: bool, **extra: Any) -> None:
    if isinstance(value, str) and not value.strip():
        return  # PyMISP strips values and drops empty ones (with a log line); nothing to share
    obj.add_attribute(relation, value=value, to_ids=to_ids, **extra)


def render_misp(report: Report, *, tlp: str = DEFAULT_TLP) -> dict[str, Any]:
    """The MISP event of one report, as the dict PyMISP writes (`{"Event": {...}}`). Raises ValueError for an
    unknown TLP level."""
    from pymisp import MISPEvent, MISPObject

    if tlp not in TLP_LEVELS:
        raise ValueError(f"unknown TLP level {tlp!r}; expected one of {', '.join(TLP_LEVELS)}")
    plan = share_plan(report)
    m = report.message
    level = report.verdict.level

    event = MISPEvent()
    subject = m.subject if m.subject else "(no subject)"
    event.info = f"triage: {level.value} email: {subject}"[:_INFO_MAX]
    event.threat_level_id = _THREAT_LEVEL[level] if report.verdict.complete or level is not Level.CLEAN else 4
    event.analysis = _ANALYSIS_COMPLETED if report.verdict.complete else _ANALYSIS_ONGOING
    event.distribution = _DISTRIBUTION_ORG_ONLY
    sent = message_date(m.date)
    if sent is not None:
        event.set_date(sent.date())
    event.add_tag(f"tlp:{tlp}")
    event.add_tag(f'triage:verdict="{level.value}"')
    for finding_id in report.finding_ids():
        event.add_tag(f'triage:finding="{_tag_value(finding_id)}"')

    email = MISPObject("email", strict=True)
    email.comment = f"verdict {level.value}, score {report.score.total:g}" + (
        "" if report.verdict.complete else ", incomplete"
    )
    # an address field whose value is not an address is kept as the header line it was
    addresses = [("from", "From", m.from_), *(("to", "To", a) for a in plan.recipients)]
    addresses += [*(("reply-to", "Reply-To", a) for a in m.reply_to), ("return-path", "Return-Path", m.return_path)]
    for relation, header, address in addresses:
        if address and is_address(address):
            detect = relation != "to" and sender_detectable(plan, address)
            _add(email, relation, address, to_ids=detect)
        elif address:
            _add(email, "header", f"{header}: {address}", to_ids=False)
    if m.from_display:
        _add(email, "from-display-name", m.from_display, to_ids=False)
    if m.subject:
        _add(email, "subject", m.subject, to_ids=False)
    if m.message_id:
        _add(email, "message-id", m.message_id, to_ids=False)
    if sent is not None:
        _add(email, "send-date", sent, to_ids=False)
    for hop in m.received:
        _add(email, "header", f"Received: {hop.raw}", to_ids=False)
    if m.sender:
        _add(email, "header", f"Sender: {m.sender}", to_ids=False)

    files = _add_files(email, plan, report)
    if email.attributes:  # a message with no header we use and no attachment has nothing for the template
        event.add_object(email)
    for obj in files.values():
        event.add_object(obj)

    for ioc in plan.iocs:
        if not ioc.value.strip():
            continue
        if ioc.kind == "url":
            obj = MISPObject("url", strict=True)
            _add(obj, "url", ioc.value, to_ids=ioc.detect)
            try:
                host = urlsplit(ioc.value).hostname
            except ValueError:
                host = None
            if host:
                _add(obj, "ip" if _ip_version(host) else "host", host, to_ids=False)
        elif ioc.kind in ("domain", "ip"):
            if ioc.kind == "ip" and _ip_version(ioc.value) is None:
                continue
            obj = MISPObject("domain-ip", strict=True)
            _add(obj, ioc.kind, ioc.value, to_ids=ioc.detect)
        else:
            if is_address(ioc.value):
                event.add_attribute("email", ioc.value, category="Payload delivery", to_ids=ioc.detect)
            continue
        holder = files.get(ioc.artifact) if ioc.artifact else None
        if holder is not None:
            holder.add_reference(obj.uuid, "connects-to")
        else:
            email.add_reference(obj.uuid, "contains")
        event.add_object(obj)
    # to_json turns nested objects, dates and uuids into JSON; to_dict would leave them as Python objects
    data: dict[str, Any] = json.loads(event.to_json())
    return {"Event": data}


def _add_files(email: Any, plan: SharePlan, report: Report) -> dict[str, Any]:
    """A file object per shared artifact (artifact id → object); references from the email and from containers."""
    from pymisp import MISPObject

    shared = {a.id for a in plan.files}
    parents = {a.id: a.parent for a in report.artifacts}
    files: dict[str, Any] = {}
    for art in plan.files:
        obj = MISPObject("file", strict=True)
        detect = art.id in plan.detect_files
        name = base_name(art.name)
        if name:
            _add(obj, "filename", name, to_ids=False)
        if art.name and name != art.name:  # an archive member's path
            _add(obj, "fullpath", art.name, to_ids=False)
        for relation, value in (("md5", art.md5), ("sha1", art.sha1), ("sha256", art.sha256)):
            if value:
                _add(obj, relation, value, to_ids=detect)
        _add(obj, "size-in-bytes", art.size, to_ids=False, disable_correlation=True)
        if art.declared_type:
            _add(obj, "mimetype", art.declared_type, to_ids=False)
        if detect:
            obj.comment = "findings in this file or inside it"
        files[art.id] = obj
    for art in plan.files:
        holder = parents.get(art.id)
        while holder is not None and holder not in shared and holder != report.message.artifact:
            holder = parents.get(holder)
        if holder is not None and holder in files:
            files[holder].add_reference(files[art.id].uuid, "contains")
        else:  # an attachment of the message (or of a part of it we do not share)
            email.add_reference(files[art.id].uuid, "includes")
            name = base_name(art.name)
            if name and holder == report.message.artifact:
                _add(email, "attachment", name, to_ids=False)
    return files


def render_misp_json(report: Report, *, tlp: str = DEFAULT_TLP) -> str:
    """The event as one line of JSON (bidi and control characters as \\u escapes, safe on a terminal)."""
    return escape_unsafe(json.dumps(render_misp(report, tlp=tlp), ensure_ascii=False))
