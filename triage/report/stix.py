"""A Report as a STIX 2.1 bundle (OASIS), built with the `stix2` library, for sharing with partners and the police.

Per message: the `email-message` with its `email-addr`s and attachment `file`s (hashes, name, size, MIME type;
archive members through `contains_refs`), the `file` of the analysed message itself (the sample), `url`,
`domain-name`, `ipv4-addr` / `ipv6-addr` observables from the report's IOCs, `indicator`s with STIX patterns
(built with `stix2.patterns`, which quotes and escapes attacker-controlled values) each `based-on` its observable,
a `malware-analysis` (product triage, result malicious / suspicious / benign / unknown, `sample_ref`,
`analysis_sco_refs`), for a malicious verdict with payloads a `malware` the indicators `indicate`, and a `report`
that groups it all. Everything is `created_by_ref` the triage `identity` and marked TLP:AMBER by default: a
bundle names the victims' addresses and quotes their mail, so it goes to the partners who need it, not further.
STIX 2.1 defines TLP 1.0 markings only: `clear` is written as TLP:WHITE (MISP gets the TLP 2.0 tag `tlp:clear`).

Custom properties (STIX has no field for them) are top-level properties declared by one `extension-definition`
(a toplevel-property-extension, as STIX 2.1 §7.3 asks): on the `report` `x_triage_verdict`, `x_triage_complete`,
`x_triage_score`, `x_triage_finding_ids`; on the `malware-analysis` `x_triage_finding_ids`. Readers that do not
know the extension can ignore it; `stix2.parse(..., allow_custom=True)` reads it back.

`share_plan(report)` is the sharing policy the MISP export uses too: which IOCs are worth detecting on (an
indicator here, `to_ids` there). A clean verdict shares observables only. Never detected on: the recipients and
their own domain, government hosts (*.go.jp, *.lg.jp: JPRS gives those to government bodies only; a lure quotes
them as link text and a spoofed From uses them; blocking them would hurt the victim), and the sender unless the
verdict is malicious. Files are detected on when something was found in them or inside them.

Values are shared as the spec wants them or not as objects at all: a url object holds an RFC 3986 URI (what a URI
cannot hold is percent-encoded; a URL without a scheme is left to its domain), an email-addr an ASCII addr-spec the
OASIS validator accepts; any other From / Sender / To value stays in `additional_header_fields`, unchanged.
"""

from __future__ import annotations

import io
import ipaddress
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath, PureWindowsPath
from typing import Any, TextIO

from triage.model import Artifact, Level, Report
from triage.report.json import escape_unsafe
from triage.report.tlp import DEFAULT_TLP, TLP_LEVELS

# Fixed ids for the triage identity and its extension definition, so bundles from different runs and hosts name
# the same producer (random version-4 UUIDs, drawn once, as STIX recommends for SDOs).
TRIAGE_IDENTITY_ID = "identity--6d3f1d47-8c4e-4b8f-9a55-0f1e3b7c2a91"
TRIAGE_EXTENSION_ID = "extension-definition--9f4482a3-47e7-4f6d-8bdf-4467052dc19c"
_EXTENSION_PROPERTIES = ("x_triage_verdict", "x_triage_complete", "x_triage_score", "x_triage_finding_ids")
_FIXED_CREATED = "2026-01-01T00:00:00Z"
_EXTENDED = {TRIAGE_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
_GOV_SUFFIXES = (".go.jp", ".lg.jp")


@dataclass(frozen=True)
class SharedIoc:
    """One IOC as the exports see it: which kind, whether to detect on it, and the file it came from (if known)."""

    kind: str  # url | domain | ip | email
    value: str
    detect: bool
    artifact: str | None  # the payload it was found in; None when it came from the message itself


@dataclass(frozen=True)
class SharePlan:
    """What a report shares, and what of it is worth detecting on (see the module docstring)."""

    files: tuple[Artifact, ...]  # the files worth sharing (those the report lists in iocs.hashes), tree order
    detect_files: frozenset[str]  # artifact ids of files to detect on
    iocs: tuple[SharedIoc, ...]
    recipients: tuple[str, ...]
    senders: tuple[str, ...]  # From, Reply-To, Return-Path, Sender (each once)
    sender_detect: bool


def _host_of_email(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _under(host: str, domain: str) -> bool:
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""
    return (host or "").lower().rstrip(".")


def share_plan(report: Report) -> SharePlan:
    """The sharing policy of the STIX and MISP exports for one report."""
    level = report.verdict.level
    hostile = level is not Level.CLEAN
    recipients = tuple(dict.fromkeys(a for a in report.message.to if a))
    own = {_host_of_email(a) for a in recipients} - {""}

    def benign_host(host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(_under(host, d) for d in own) or any(host.endswith(s) or host == s[1:] for s in _GOV_SUFFIXES)

    hashes = set(report.iocs.hashes)
    files = tuple(a for a in report.artifacts if a.sha256 and a.sha256 in hashes)
    flagged = {f.artifact for f in report.findings if f.weight > 0}  # informational findings flag nothing
    parents = {a.id: a.parent for a in report.artifacts}
    detect_files: set[str] = set()
    if hostile:
        for art_id in flagged:
            seen: set[str] = set()
            node: str | None = art_id
            while node is not None and node not in seen:  # a finding on a member also marks its containers
                seen.add(node)
                detect_files.add(node)
                node = parents.get(node)
        detect_files &= {a.id for a in files}

    def found_in(value: str) -> str | None:
        # IOCs do not carry their artifact; a payload's finding quoting the value says where it came from
        for f in report.findings:
            if f.artifact != report.message.artifact and f.artifact in parents and any(value in e for e in f.evidence):
                art = report.artifact(f.artifact)
                if "email" not in art.types and not art.meta.get("body"):
                    return f.artifact
        return None

    iocs: list[SharedIoc] = []
    for url in report.iocs.urls:
        iocs.append(SharedIoc("url", url, hostile and not benign_host(_url_host(url)), found_in(url)))
    for domain in report.iocs.domains:
        iocs.append(SharedIoc("domain", domain, hostile and not benign_host(domain), found_in(domain)))
    for ip in report.iocs.ips:
        iocs.append(SharedIoc("ip", ip, hostile and _is_public_ip(ip), found_in(ip)))
    m = report.message
    senders = tuple(dict.fromkeys(a for a in (m.from_, *m.reply_to, m.return_path, m.sender) if a))
    sender_detect = level is Level.MALICIOUS
    known = {a.lower() for a in (*senders, *recipients)}
    for email in report.iocs.emails:
        if email.lower() not in known:  # an address found in a payload or the body
            detect = hostile and not benign_host(_host_of_email(email))
            iocs.append(SharedIoc("email", email, detect, found_in(email)))
    return SharePlan(
        files=files,
        detect_files=frozenset(detect_files),
        iocs=tuple(iocs),
        recipients=recipients,
        senders=senders,
        sender_detect=sender_detect,
    )


def sender_detectable(plan: SharePlan, address: str) -> bool:
    """Detect on this sender address? Only for a malicious verdict, never the victims' domain or a government one."""
    host = _host_of_email(address)
    own = {_host_of_email(a) for a in plan.recipients}
    gov = any(host.endswith(s) or host == s[1:] for s in _GOV_SUFFIXES)
    return plan.sender_detect and not gov and not any(_under(host, d) for d in own)


# An addr-spec as STIX wants it (RFC 5322 dot-atom local part; a domain name with at least one dot, as the OASIS
# validator insists). Obsolete and quoted forms, dotless domains and non-addresses stay out of email-addr objects:
# a consumer that validates would reject the whole bundle for one of them.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI_SAFE = ":/?#[]@!$&'()*+,;=%"  # RFC 3986 reserved characters, and % of the escapes already there


# The OASIS validator accepts fewer local parts than RFC 5322 (no = ' / …, as in VERP bounce addresses); validating
# consumers reject a whole bundle for one such email-addr, so STIX keeps those as header fields too.
_STIX_LOCAL = re.compile(r"[A-Za-z0-9_.+-]+")


def _stix_address(value: str) -> bool:
    return is_address(value) and _STIX_LOCAL.fullmatch(value.rpartition("@")[0]) is not None


def is_address(value: str) -> bool:
    """Is this an email address STIX and MISP accept? RFC 5322 is ASCII: an address with Unicode in it (a homoglyph
    domain, an SMTPUTF8 mailbox) is kept as the header line it came in, where nothing normalises it away."""
    return value.isascii() and _ADDR_SPEC.fullmatch(value) is not None


def uri_value(url: str) -> str | None:
    """The URL as an RFC 3986 URI (what a STIX url object holds): characters a URI cannot hold (spaces, controls,
    backslashes, non-ASCII) percent-encoded as a browser would send them. None without a scheme (`//host/x`)."""
    from urllib.parse import quote, urlsplit

    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # e.g. an unclosed [ in the host
        return None
    if not scheme or not _SCHEME.fullmatch(scheme) or not url.startswith(scheme):
        return None
    url = _BAD_PERCENT.sub("%25", url)
    head, tail = url, ""
    if url[len(scheme) :].startswith("://"):  # [ and ] belong to an IP literal in the authority, nowhere else
        end = len(scheme) + 3
        while end < len(url) and url[end] not in "/?#":
            end += 1
        head, tail = url[:end], url[end:]
    before, hash_, fragment = tail.partition("#")  # a second # inside the fragment is data
    safe = _URI_SAFE.replace("[]", "")
    try:
        encoded = (
            quote(head, safe=_URI_SAFE) + quote(before, safe=safe) + hash_ + quote(fragment, safe=safe.replace("#", ""))
        )
    except UnicodeEncodeError:  # a lone surrogate: not text a URI can carry
        return None
    try:
        urlsplit(encoded)
    except ValueError:
        return None
    return encoded


def _field(values: Sequence[str]) -> str | list[str]:
    # STIX: a header field repeated is a list of two or more values, a single one is a string
    return values[0] if len(values) == 1 else list(values)


def _is_public_ip(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    return ip.is_global


def message_date(value: str | None) -> datetime | None:
    """The Date header as an aware UTC datetime, or None when it is missing or not a date."""
    from email.utils import parsedate_to_datetime  # not at import time: the CLI imports this module for TLP_LEVELS

    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def base_name(name: str | None) -> str | None:
    """The last component of a path-like name (an archive member path or the input's local path)."""
    if not name:
        return None
    last = PureWindowsPath(PurePath(name).name).name
    return last or name


# -- STIX ---------------------------------------------------------------------------------------------------------


class _Bundle:
    """Objects of one bundle, first occurrence wins (SCOs of several messages share deterministic ids)."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    def add(self, obj: Any) -> str:
        self.objects.setdefault(obj.id, obj)
        return str(obj.id)


def _tlp_marking(tlp: str) -> Any:
    import stix2

    table = {
        "clear": stix2.TLP_WHITE,
        "white": stix2.TLP_WHITE,
        "green": stix2.TLP_GREEN,
        "amber": stix2.TLP_AMBER,
        "red": stix2.TLP_RED,
    }
    if tlp not in table:
        raise ValueError(f"unknown TLP level {tlp!r}; expected one of {', '.join(TLP_LEVELS)}")
    return table[tlp]


def _identity() -> Any:
    import stix2

    return stix2.Identity(
        id=TRIAGE_IDENTITY_ID,
        created=_FIXED_CREATED,
        modified=_FIXED_CREATED,
        name="triage",
        identity_class="system",
        description="triage: decides whether an email is a targeted attack and shows why",
    )


def _extension() -> Any:
    import stix2

    return stix2.ExtensionDefinition(
        id=TRIAGE_EXTENSION_ID,
        created=_FIXED_CREATED,
        modified=_FIXED_CREATED,
        created_by_ref=TRIAGE_IDENTITY_ID,
        name="triage verdict",
        description="The verdict of triage, an email triage tool, on the message a report or analysis is about.",
        schema="Top-level properties. x_triage_verdict: clean, suspicious or malicious. x_triage_complete: "
        "boolean, false when part of the message could not be analysed. x_triage_score: number, the sum of "
        "finding weights. x_triage_finding_ids: list of strings, the ids of the findings (stable, English).",
        version="1.0",
        extension_types=["toplevel-property-extension"],
        extension_properties=list(_EXTENSION_PROPERTIES),
    )


def _pattern(kind: str, value: str) -> str:
    from stix2.patterns import EqualityComparisonExpression, ObjectPath, ObservationExpression, StringConstant

    path = {
        "url": ObjectPath("url", ["value"]),
        "domain": ObjectPath("domain-name", ["value"]),
        "ipv4": ObjectPath("ipv4-addr", ["value"]),
        "ipv6": ObjectPath("ipv6-addr", ["value"]),
        "email": ObjectPath("email-addr", ["value"]),
        "sha256": ObjectPath("file", ["hashes", "SHA-256"]),
    }[kind]
    return str(ObservationExpression(EqualityComparisonExpression(path, StringConstant(value))))


def _ip_kind(value: str) -> str | None:
    try:
        return "ipv4" if ipaddress.ip_address(value).version == 4 else "ipv6"
    except ValueError:
        return None


def _file_sco(art: Artifact, contains: Sequence[str], marks: list[str]) -> Any:
    import stix2

    hashes = {k: v for k, v in (("SHA-256", art.sha256), ("SHA-1", art.sha1), ("MD5", art.md5)) if v}
    props: dict[str, Any] = {"size": art.size, "object_marking_refs": marks}
    if hashes:
        props["hashes"] = hashes
    name = base_name(art.name)
    if name:
        props["name"] = name
    if art.declared_type and "/" in art.declared_type and art.declared_type.isascii():
        props["mime_type"] = art.declared_type.lower()
    if contains:
        props["contains_refs"] = list(contains)
    return stix2.File(**props)


class _MessageObjects:
    """The STIX objects of one report, added to a bundle in an order where every reference is already there."""

    def __init__(self, bundle: _Bundle, report: Report, marking: Any, now: datetime) -> None:
        self.bundle = bundle
        self.report = report
        self.now = now
        self.marks = [marking.id]
        self.common: dict[str, Any] = {
            "created_by_ref": TRIAGE_IDENTITY_ID,
            "object_marking_refs": self.marks,
            "created": now,
            "modified": now,
        }
        self.plan = share_plan(report)
        self.level = report.verdict.level
        self.refs: list[str] = []  # everything this message's report object groups
        self.observables: list[str] = []  # what the analysis saw
        self.indicators: list[tuple[str, str]] = []  # (indicator id, the observable it is based on)
        self.file_ids: dict[str, str] = {}  # artifact id -> file SCO id
        self.parents = {a.id: a.parent for a in report.artifacts}
        self.shared = {a.id for a in self.plan.files}

    def add(self, obj: Any) -> str:
        ref = self.bundle.add(obj)
        self.refs.append(ref)
        return ref

    def build(self) -> None:
        self.add_files()
        email_id = self.add_email()
        sample_id = self.add_sample()
        self.add_network()
        self.add_indicators()
        self.add_analysis(email_id, sample_id)

    def address(self, value: str, display: str | None = None) -> str:
        import stix2

        props: dict[str, Any] = {"value": value, "object_marking_refs": self.marks}
        if display:
            props["display_name"] = display
        return self.add(stix2.EmailAddress(**props))

    def holder(self, artifact_id: str, stop: str | None = None) -> str | None:
        """The nearest shared file above an artifact (or `stop`, the message, when reached first)."""
        node = self.parents.get(artifact_id)
        seen: set[str] = set()
        while node is not None and node not in self.shared and node != stop and node not in seen:
            seen.add(node)
            node = self.parents.get(node)
        return node

    def add_files(self) -> None:
        # members before their containers, so a container can name them in contains_refs
        children: dict[str, list[str]] = {}
        for art in self.plan.files:
            holder = self.holder(art.id)
            if holder is not None:
                children.setdefault(holder, []).append(art.id)
        for art in sorted(self.plan.files, key=lambda a: -a.depth):
            contains = [self.file_ids[c] for c in children.get(art.id, ()) if c in self.file_ids]
            self.file_ids[art.id] = self.add(_file_sco(art, contains, self.marks))
        self.observables.extend(self.file_ids.values())

    def add_email(self) -> str:
        import stix2

        m = self.report.message
        props: dict[str, Any] = {"object_marking_refs": self.marks}
        extra: dict[str, str | list[str]] = {}  # fields STIX has no property for, or whose value is no address
        if m.from_ and _stix_address(m.from_):
            props["from_ref"] = self.address(m.from_, m.from_display)
        elif m.from_:
            extra["From"] = m.from_
        if m.sender and _stix_address(m.sender):
            props["sender_ref"] = self.address(m.sender)
        elif m.sender:
            extra["Sender"] = m.sender
        to_refs = [self.address(a) for a in self.plan.recipients if _stix_address(a)]
        if to_refs:
            props["to_refs"] = to_refs
        odd = [a for a in self.plan.recipients if not _stix_address(a)]
        if odd:
            extra["To"] = _field(odd)
        if m.subject is not None:
            props["subject"] = m.subject
        if m.message_id:
            props["message_id"] = m.message_id
        sent = message_date(m.date)
        if sent is not None:
            props["date"] = sent
        if m.received:
            props["received_lines"] = [h.raw for h in m.received]
        if m.reply_to:
            extra["Reply-To"] = _field(m.reply_to)
        if m.return_path:
            extra["Return-Path"] = m.return_path
        auth = [f"{k}={v}" for k, v in vars(m.authentication).items() if v]
        if auth:
            extra["Authentication-Results"] = "; ".join(auth)
        if extra:
            props["additional_header_fields"] = extra
        # the attachments: shared files directly under the message, or under a MIME part of it that is not shared
        parts: list[Any] = []
        for art in self.plan.files:
            if m.artifact is None or self.holder(art.id, stop=m.artifact) != m.artifact:
                continue
            part: dict[str, Any] = {"body_raw_ref": self.file_ids[art.id]}
            if art.declared_type and art.declared_type.isascii():
                part["content_type"] = art.declared_type
            if art.meta.get("disposition"):
                part["content_disposition"] = str(art.meta["disposition"])
            parts.append(stix2.EmailMIMEComponent(**part))
        has_parts = m.artifact is not None and any(a.parent == m.artifact for a in self.report.artifacts)
        props["is_multipart"] = bool(parts) or has_parts
        if parts:
            props["body_multipart"] = parts
        email_id = self.add(stix2.EmailMessage(**props))
        self.observables.append(email_id)
        return email_id

    def add_sample(self) -> str:
        """The analysed message as a file: the sample the analysis is of."""
        import stix2

        report = self.report
        root = next((a for a in report.artifacts if a.parent is None), None)
        hashes = {"SHA-256": report.input.sha256}
        if root is not None and root.sha256 == report.input.sha256:
            hashes.update({k: v for k, v in (("SHA-1", root.sha1), ("MD5", root.md5)) if v})
        props: dict[str, Any] = {
            "hashes": hashes,
            "size": report.input.size,
            "mime_type": "message/rfc822",
            "object_marking_refs": self.marks,
        }
        name = base_name(report.input.name)  # not the analyst's local path
        if name:
            props["name"] = name
        sample_id = self.add(stix2.File(**props))
        self.observables.append(sample_id)
        return sample_id

    def add_network(self) -> None:
        import stix2

        for ioc in self.plan.iocs:
            value = ioc.value
            if ioc.kind == "url":
                uri = uri_value(ioc.value)
                if uri is None:
                    continue  # no scheme: its host is among the domains
                value = uri
                ref = self.add(stix2.URL(value=uri, object_marking_refs=self.marks))
                kind, what = "url", "URL"
            elif ioc.kind == "domain":
                ref = self.add(stix2.DomainName(value=ioc.value, object_marking_refs=self.marks))
                kind, what = "domain", "Domain"
            elif ioc.kind == "ip":
                ip_kind = _ip_kind(ioc.value)
                if ip_kind is None:
                    continue
                cls = stix2.IPv4Address if ip_kind == "ipv4" else stix2.IPv6Address
                ref = self.add(cls(value=ioc.value, object_marking_refs=self.marks))
                kind, what = ip_kind, "IP address"
            else:
                if not _stix_address(ioc.value):
                    continue
                ref = self.address(ioc.value)
                kind, what = "email", "Email address"
            self.observables.append(ref)
            if ioc.detect:
                self.indicate(kind, value, ref, what)

    def add_indicators(self) -> None:
        m = self.report.message
        for address in self.plan.senders:
            if sender_detectable(self.plan, address) and _stix_address(address):
                display = m.from_display if address == m.from_ else None
                self.indicate("email", address, self.address(address, display), "Sender address")
        for art in self.plan.files:
            if art.id in self.plan.detect_files and art.sha256:
                self.indicate("sha256", art.sha256, self.file_ids[art.id], "File")
        for ind_id, observable in self.indicators:
            self.add(self.relationship(ind_id, "based-on", observable))

    def indicate(self, kind: str, value: str, observable: str, what: str) -> None:
        import stix2

        level = self.level.value
        findings = self.report.finding_ids()
        indicator = stix2.Indicator(
            name=f"{what} from a {level} email",
            description=f"{what} seen in an email that triage judged {level}"
            + (f" (findings: {', '.join(findings)})" if findings else ""),
            pattern=_pattern(kind, value),
            pattern_type="stix",
            valid_from=self.now,
            indicator_types=["malicious-activity"] if self.level is Level.MALICIOUS else ["anomalous-activity"],
            labels=[level],
            **self.common,
        )
        self.indicators.append((self.add(indicator), observable))

    def relationship(self, source: str, kind: str, target: str) -> Any:
        import stix2

        return stix2.Relationship(source, kind, target, **self.common)

    def add_analysis(self, email_id: str, sample_id: str) -> None:
        import stix2

        report, level = self.report, self.level
        finding_ids = report.finding_ids()
        result = {Level.MALICIOUS: "malicious", Level.SUSPICIOUS: "suspicious", Level.CLEAN: "benign"}[level]
        if level is Level.CLEAN and not report.verdict.complete:
            result = "unknown"  # content that could not be opened is never called clean
        incomplete = "" if report.verdict.complete else ", incomplete"
        analysis = stix2.MalwareAnalysis(
            product="triage",
            version=report.tool_version,
            result=result,
            result_name=f"{level.value} (score {report.score.total:g}{incomplete})",
            sample_ref=sample_id,
            analysis_sco_refs=list(dict.fromkeys([email_id, sample_id, *self.observables])),
            x_triage_finding_ids=finding_ids,
            extensions=_EXTENDED,
            allow_custom=True,
            **self.common,
        )
        self.add(analysis)
        payloads = [self.file_ids[a.id] for a in self.plan.files if a.id in self.plan.detect_files]
        if level is Level.MALICIOUS and payloads:
            subject = report.message.subject
            malware = stix2.Malware(
                name=f'payload of the email "{subject}"'[:200] if subject else "payload of an email",
                is_family=False,
                sample_refs=list(dict.fromkeys(payloads)),
                **self.common,
            )
            self.add(malware)
            self.add(self.relationship(analysis.id, "static-analysis-of", malware.id))
            for ind_id, _ in self.indicators:
                self.add(self.relationship(ind_id, "indicates", malware.id))
        title = report.message.subject or "(no subject)"
        self.bundle.add(
            stix2.Report(
                name=f"triage: {level.value}: {title}"[:300],
                description="Findings: " + (", ".join(finding_ids) if finding_ids else "none"),
                published=self.now,
                report_types=["threat-report"],
                object_refs=list(dict.fromkeys([TRIAGE_IDENTITY_ID, TRIAGE_EXTENSION_ID, *self.refs])),
                x_triage_verdict=level.value,
                x_triage_complete=report.verdict.complete,
                x_triage_score=report.score.total,
                x_triage_finding_ids=finding_ids,
                extensions=_EXTENDED,
                allow_custom=True,
                **self.common,
            )
        )


def iter_stix(reports: Iterable[Report], *, tlp: str = DEFAULT_TLP, now: datetime | None = None) -> Iterator[Any]:
    """The objects of one bundle for these reports, each once (messages share SCOs: their ids are deterministic),
    message by message, so a sweep's bundle never has to sit in memory whole. ValueError for an unknown TLP level,
    before the first object."""
    marking = _tlp_marking(tlp)
    stamp = now or datetime.now(UTC)
    seen: set[str] = set()

    def fresh(objects: Iterable[Any]) -> Iterator[Any]:
        for obj in objects:
            if obj.id not in seen:
                seen.add(obj.id)
                yield obj

    def generate() -> Iterator[Any]:
        yield from fresh((marking, _identity(), _extension()))
        for report in reports:
            bundle = _Bundle()
            _MessageObjects(bundle, report, marking, stamp).build()
            yield from fresh(bundle.objects.values())

    return generate()


def write_stix(reports: Iterable[Report], out: TextIO, *, tlp: str = DEFAULT_TLP, now: datetime | None = None) -> None:
    """One STIX 2.1 bundle (JSON) for these reports, written object by object. stix2 builds and checks every
    object; only the bundle's envelope is written here, as stix2.Bundle would write it."""
    objects = iter_stix(reports, tlp=tlp, now=now)
    out.write(f'{{"type": "bundle", "id": "bundle--{uuid.uuid4()}", "objects": [')
    for n, obj in enumerate(objects):
        # stix2 writes non-ASCII text as is; bidi and control characters become \u escapes (terminal safety)
        out.write(("," if n else "") + "\n" + escape_unsafe(obj.serialize(ensure_ascii=False)))
    out.write("\n]}")


def render_stix(reports: Iterable[Report], *, tlp: str = DEFAULT_TLP, now: datetime | None = None) -> str:
    """One STIX 2.1 bundle (JSON) for one or many reports. Raises ValueError for an unknown TLP level."""
    buffer = io.StringIO()
    write_stix(reports, buffer, tlp=tlp, now=now)
    return buffer.getvalue()
