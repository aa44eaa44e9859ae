"""The engine: one scan of one message, breadth-first over its artifact tree, under one budget.

`Engine(config).scan(raw, envelope=..., name=...) -> Report` is the only way into analysis. Plugins are set up
once per Engine; a scan holds its own state (`_Scan`) and never touches another scan's.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import ipaddress
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from triage import __version__
from triage.config import Config, PasswordOptions, load_config
from triage.errors import ConfigError
from triage.filetype import FileTyper, starts_like_a_header
from triage.ingest.eml import ParsedEmail, parse_email
from triage.ingest.forward import find_original
from triage.model import (
    Artifact,
    Envelope,
    Finding,
    InputInfo,
    Iocs,
    JsonValue,
    MessageInfo,
    Note,
    NoteKind,
    Report,
)
from triage.names import display_name, escape_controls
from triage.plugins import (
    Analyzer,
    ArtifactView,
    Child,
    MessageView,
    PasswordCandidate,
    Scope,
    Unpacker,
)
from triage.registry import (
    ENGINE_USES,
    LazyPlugin,
    default_analyzers,
    default_unpackers,
    needs_eager_setup,
    prepare_plugin,
)
from triage.runner import IOC_KINDS, CallContext, CallOutcome, ScanState, run_call
from triage.scoring.score import score

ENGINE = "engine"
# ids the engine itself emits; they must be declared in scoring.toml like any plugin's
ENGINE_EMITS = frozenset({"FORWARDED_ORIGINAL", "LIMIT_EXCEEDED"})
# message-scope analyzers still run after a deadline hit, with this much extra time: sender and text checks
# are cheap and carry most of the weight for a gateway.
MESSAGE_GRACE_SECONDS = 2.0
# iocs.hashes holds files as the attacker sent them: attachments, archive members, embedded files (scripts and HTML
# attachments included, and objects carved from RTF). Not the message (input.sha256 has it), not its body text parts
# (unique per recipient: nothing to block or look up), not the source text our decoders reconstruct (VBA, XLM,
# PDF JavaScript: their hash depends on our decoder; no sandbox or blocklist knows it).
_HASHED_TYPES_SKIP = frozenset({"email"})
# Views our decoders reconstruct (VBA, XLM, PDF JavaScript): text, not files anyone sent (`triage extract` skips
# them too).
DECODED_TEXT_VIEWS = frozenset({"vba", "xlm", "pdf-js"})
# Containers whose members we cannot list yet: their content was not analysed, so the scan is incomplete.
_OPAQUE_CONTAINERS = frozenset({"ace", "vhd"})
# Root types that say only "some text": a root that also starts with a header field is read as a message.
_TEXTUAL_ROOT = frozenset({"text", "html", "xml", "unknown"})
# Scanned by warm_up: Japanese text, a display name and a link wake the message analyzers' lazy parts. Only
# reserved example domains: a site with live DNS checks on sends no query about a real one.
_WARM_UP_MESSAGE = (
    "From: =?utf-8?b?5YaF6Zaj5bqc?= <info@example.jp>\r\nTo: warm-up@example.jp\r\nSubject: warm-up\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "お世話になっております。会議の資料をお送りします。https://www.example.jp/ パスワード: warmup\r\n"
).encode()
_LIMIT_KINDS = frozenset({NoteKind.LIMIT_DEPTH, NoteKind.LIMIT_FILES, NoteKind.LIMIT_SIZE, NoteKind.TIMEOUT})


@dataclass
class _Node:
    id: str
    parent: str | None
    depth: int
    name: str | None
    declared_type: str | None
    data: bytes | None
    size: int
    types: tuple[str, ...] = ()
    meta: dict[str, JsonValue] = field(default_factory=dict)
    hashes: tuple[str, str, str] | None = None
    parsed: Any = None

    def record(self) -> Artifact:
        md5, sha1, sha256 = self.hashes or (None, None, None)
        return Artifact(
            id=self.id,
            parent=self.parent,
            depth=self.depth,
            name=self.name,
            display_name=display_name(self.name) if self.name is not None else None,
            declared_type=self.declared_type,
            types=self.types,
            size=self.size,
            md5=md5,
            sha1=sha1,
            sha256=sha256,
            meta=dict(self.meta),
        )


def _hashes(data: bytes) -> tuple[str, str, str]:
    # MD5 and SHA-1 are how analysts and feeds name samples: identifiers here, never a security decision
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return md5, hashlib.sha1(data, usedforsecurity=False).hexdigest(), hashlib.sha256(data).hexdigest()


class _Scan(ScanState):
    """The mutable state of one scan. Lives only inside Engine.scan."""

    def __init__(
        self,
        engine: Engine,
        started: float,
        passwords: Sequence[PasswordCandidate] = (),
        keep: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.engine = engine
        self.given_passwords = tuple(passwords)  # tried first: e.g. a sweep's candidates from a follow-up mail
        self.keep = keep  # `triage extract`: handed each artifact's bytes once, when its node is made
        self.config = engine.config
        self.started = started
        self.deadline = started + engine.config.limits.max_seconds
        self.findings: list[Finding] = []
        self.notes: list[Note] = []
        self.nodes: dict[str, _Node] = {}
        self.order: list[str] = []
        self.total_bytes = 0
        self.files = 0
        self.messages: list[tuple[str, ParsedEmail]] = []
        self._candidates: tuple[PasswordCandidate, ...] | None = None
        self.iocs: dict[str, dict[str, str]] = {kind: {} for kind in IOC_KINDS}  # kind -> dedupe key -> value

    # -- ScanState -------------------------------------------------------------------------------------------
    def commit_meta(self, artifact: str, key: str, value: JsonValue) -> None:
        node = self.nodes.get(artifact)
        if node is not None:
            node.meta[key] = value

    def max_child_size(self) -> int:
        limits = self.config.limits
        return max(0, min(limits.max_file_size, limits.max_total_size - self.total_bytes))

    def password_candidates(self) -> Sequence[PasswordCandidate]:
        if self._candidates is None:
            opts = self.config.passwords
            texts: list[tuple[str, str]] = []
            for _, parsed in self.messages:
                texts.append(("body", parsed.text))
                texts.append(("html", parsed.html_text))
                texts.append(("subject", parsed.info.subject or ""))
            from triage.unpack.passwords import password_candidates  # only a scan with an encrypted container

            found = password_candidates(
                texts,
                wordlist=self.engine.password_wordlist,
                extra=opts.extra,
                limit=opts.max_candidates,
                cues=self.engine.password_cues,
            )
            given = {c.value for c in self.given_passwords}
            self._candidates = (*self.given_passwords, *(c for c in found if c.value not in given))
        return self._candidates

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        if isinstance(parsed, ParsedEmail) and all(p is not parsed for _, p in self.messages):
            self.messages.append((artifact_id, parsed))
            self._candidates = None

    def add_iocs(self, iocs: Sequence[tuple[str, str]]) -> None:
        for kind, value in iocs:
            self.iocs[kind].setdefault(_ioc_key(kind, value), value)

    def parsed_for(self, artifact_id: str) -> Any:
        node = self.nodes.get(artifact_id)
        return node.parsed if node is not None else None

    # -- bookkeeping -----------------------------------------------------------------------------------------
    def engine_note(self, kind: NoteKind, artifact: str | None, detail: str) -> None:
        self.notes.append(Note(kind=kind, artifact=artifact, component=ENGINE, detail=detail))

    def limit(self, kind: NoteKind, artifact: str, detail: str) -> None:
        self.engine_note(kind, artifact, detail)

    def limit_findings(self) -> list[Finding]:
        """One LIMIT_EXCEEDED per kind of limit hit, whoever hit it (the engine or an unpacker's own check)."""
        out: list[Finding] = []
        seen: set[NoteKind] = set()
        for note in self.notes:
            if note.kind in _LIMIT_KINDS and note.kind not in seen:
                seen.add(note.kind)
                out.append(
                    Finding(
                        id="LIMIT_EXCEEDED",
                        artifact=note.artifact or "a0",
                        analyzer=ENGINE,
                        evidence=(f"{note.kind.value}: {note.detail}",),
                    )
                )
        return out

    def new_node(self, parent: _Node | None, child: Child) -> _Node:
        node_id = f"a{len(self.order)}"
        data = child.data
        size = len(data) if data is not None else (child.declared_size or 0)
        node = _Node(
            id=node_id,
            parent=parent.id if parent else None,
            depth=parent.depth + 1 if parent else 0,
            name=child.name,
            declared_type=child.declared_type,
            data=data,
            size=size,
            meta=dict(child.meta),
            parsed=child.parsed,
        )
        if data is None:
            node.meta.setdefault("unreadable", "content not available")
            node.types = ("unreadable",)
        else:
            node.hashes = _hashes(data)
            if self.keep is not None:
                self.keep(node_id, data)
        self.nodes[node_id] = node
        self.order.append(node_id)
        return node


class Engine:
    """Set up once (plugins, rules, YARA, dictionaries), then scan many messages."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        unpackers: Sequence[Unpacker] | None = None,
        analyzers: Sequence[Analyzer] | None = None,
        cache: AnalysisCache | None = None,
    ) -> None:
        self.config = config or load_config()
        self.cache = cache  # artifact-analyzer results by content, shared across scans (a mailbox sweep)
        self.unpackers: tuple[Unpacker, ...] = tuple(unpackers if unpackers is not None else default_unpackers())
        self.analyzers: tuple[Analyzer, ...] = tuple(analyzers if analyzers is not None else default_analyzers())
        table = self.config.scoring
        table.check_emits(ENGINE, ENGINE_EMITS)
        plugins: list[Unpacker | Analyzer] = [*self.unpackers, *self.analyzers]
        for plugin in plugins:
            table.check_emits(plugin.name, plugin.emits)
            plugin.setup(self.config)
        # Declared plugins load on first use; what a site changed is loaded now, so its errors fail here.
        eager = needs_eager_setup(self.config)
        for plugin in plugins:
            if "*" in eager or plugin.name in eager:
                prepare_plugin(plugin)
        self.filetyper = FileTyper()
        self.password_wordlist = _load_wordlist(self.config)
        self._password_cues: tuple[str, ...] | None = None
        if "*" in eager or self.config.passwords.keywords != PasswordOptions().keywords:
            _ = self.password_cues  # a site's own cue list is checked now

    @property
    def password_cues(self) -> tuple[str, ...]:
        """The cue words that introduce a password in text; read on first use (the shipped list is tested)."""
        if self._password_cues is None:
            from triage.unpack.passwords import load_cue_words

            self._password_cues = load_cue_words(self.config.rules_path(self.config.passwords.keywords))
        return self._password_cues

    # -- public -------------------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Do now the one-off work plugins otherwise do on first use (imports, patterns, dictionaries).

        A one-off `triage scan` pays only for what its message needs; a gateway or batch worker that scans many
        messages calls this once after building the Engine, so its first message is as fast as the rest.
        """
        for module in ENGINE_USES:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        for plugin in (*self.unpackers, *self.analyzers):
            prepare_plugin(plugin)
        self.filetyper.prepare()
        _ = self.password_cues
        self.scan(_WARM_UP_MESSAGE, name="warm-up")

    def scan(
        self,
        raw: bytes,
        *,
        envelope: Envelope | None = None,
        name: str | None = None,
        passwords: Sequence[PasswordCandidate] = (),
        keep: Callable[[str, bytes], None] | None = None,
    ) -> Report:
        """`passwords` are tried before the message's own candidates (a sweep retrying a PPAP archive).

        `keep(artifact_id, data)`, if given, is called once per artifact whose bytes were read, as its node is
        made (before any limit stops the walk), so `triage extract` can pack them; the bytes are the ones the
        budget already admitted. Without it the engine drops each node's bytes once the node is walked.
        """
        started = time.monotonic()
        scan = _Scan(self, started, passwords, keep)
        timings: dict[str, float] = {}
        limits = self.config.limits

        if len(raw) > limits.max_message_size:
            # Too big to analyse in full: hash it, say so, and never call it clean.
            root = scan.new_node(None, Child(data=None, name=name, declared_size=len(raw)))
            root.hashes = _hashes(raw)
            scan.limit(NoteKind.LIMIT_SIZE, root.id, f"message of {len(raw)} bytes exceeds max_message_size")
            return self._report(scan, raw, name, MessageInfo(), None, timings)

        root = scan.new_node(None, Child(data=raw, name=name))
        scan.total_bytes = len(raw)
        scan.files = 1
        root.types = self.filetyper.tags(raw, name)

        primary: ParsedEmail | None = None
        forwarded_how: str | None = None
        wrapper: ParsedEmail | None = None
        if "email" not in root.types and (
            envelope is not None or (set(root.types) <= _TEXTUAL_ROOT and starts_like_a_header(raw))
        ):
            # A gateway hands us a message by definition, however odd its first bytes look; so does a caller whose
            # input starts with a header field, even when a crafted line further down defeats the content sniff.
            root.types = ("text", "email")
        if "email" in root.types:
            t0 = time.monotonic()
            ctx = CallContext(scan, "ingest", root.id)

            def _ingest(c: CallContext) -> None:
                nonlocal primary, forwarded_how, wrapper
                parsed = parse_email(raw, deadline=scan.deadline)
                root.parsed = parsed
                scan.add_message(root.id, parsed)
                if parsed.defects:
                    c.set_meta("defects", list(parsed.defects))
                if parsed.cut_short or (parsed.original is not None and parsed.original.parsed.cut_short):
                    c.note(NoteKind.TIMEOUT, f"deadline of {limits.max_seconds}s passed while parsing the message")
                primary = parsed
                # Unwrapping is for analysts who were forwarded a suspicious mail. At a gateway (an envelope is
                # given) the sender is whoever sent it: a crafted "forward" must not choose the headers we check.
                original = find_original(parsed) if envelope is None else None
                if original is not None and original.how == "inline":
                    # An inline "forward" is only text: anyone can type a quoted header block (phishing does,
                    # to borrow trust). Its claims are shown; the real headers stay the ones analysed.
                    quoted = original.parsed.info
                    c.emit(
                        "FORWARDED_ORIGINAL",
                        (
                            "inline forward: quoted headers shown, the wrapper's real headers analysed",
                            escape_controls(f"quoted From: {quoted.from_display or ''} <{quoted.from_ or ''}>"),
                            escape_controls(f"quoted Subject: {quoted.subject or ''}"),
                        ),
                    )
                elif original is not None:
                    forwarded_how = original.how
                    wrapper = parsed
                    primary = original.parsed
                    c.emit("FORWARDED_ORIGINAL", (f"unwrapped: {original.how}", *original.evidence))

            outcome = run_call(ctx, _ingest)
            if outcome != CallOutcome.OK:
                root.meta["unparsable"] = True
            timings["ingest"] = round(time.monotonic() - t0, 4)

        t0 = time.monotonic()
        self._walk(scan, root)
        timings["walk"] = round(time.monotonic() - t0, 4)

        primary_id = root.id
        if primary is not None:
            for artifact_id, parsed in scan.messages:
                if parsed is primary:
                    primary_id = artifact_id
            t0 = time.monotonic()
            self._analyze_message(
                scan, primary, primary_id, envelope, forwarded_how, wrapper, raw if primary_id == root.id else b""
            )
            timings["message"] = round(time.monotonic() - t0, 4)

        info = _with_artifact(primary.info, primary_id) if primary is not None else MessageInfo()
        wrapper_info = _with_artifact(wrapper.info, root.id) if wrapper is not None else None
        return self._report(scan, raw, name, info, wrapper_info, timings)

    # -- the walk -----------------------------------------------------------------------------------------------
    def _walk(self, scan: _Scan, root: _Node) -> None:
        queue: deque[_Node] = deque([root])
        limits = self.config.limits
        while queue:
            node = queue.popleft()
            if time.monotonic() >= scan.deadline:
                left = 1 + len(queue)
                scan.limit(
                    NoteKind.TIMEOUT,
                    node.id,
                    f"deadline of {limits.max_seconds}s passed; {left} artifact(s) not analysed",
                )
                break
            if node.data is not None and not node.types:
                node.types = self.filetyper.tags(node.data, node.name)
            view = ArtifactView(artifact=node.record(), data=node.data or b"")
            for analyzer in self.analyzers:
                if analyzer.scope is Scope.ARTIFACT and _accepts(analyzer.accepts, node.types):
                    self._run_analyzer(scan, analyzer, view)
            if node.data is not None:
                unpacker = next((u for u in self.unpackers if _accepts(u.accepts, node.types)), None)
                opaque = _OPAQUE_CONTAINERS.intersection(node.types)
                if unpacker is None and opaque:
                    scan.engine_note(
                        NoteKind.UNPARSABLE, node.id, f"no unpacker for {'/'.join(sorted(opaque))} content yet"
                    )
                if unpacker is not None:
                    if node.depth + 1 > limits.max_depth:
                        scan.limit(
                            NoteKind.LIMIT_DEPTH,
                            node.id,
                            f"not unpacked: depth {node.depth + 1} exceeds max_depth {limits.max_depth}",
                        )
                    else:
                        queue.extend(self._run_unpacker(scan, unpacker, node, view))
            node.data = None  # the bytes are no longer needed: keep memory bounded by the queue

    def _run_analyzer(self, scan: _Scan, analyzer: Analyzer, target: Any) -> str:
        ctx = CallContext(scan, analyzer.name, target.id if isinstance(target, ArtifactView) else None)
        if isinstance(target, MessageView):
            ctx.artifact_id = target.artifact

        def _call(c: CallContext) -> None:
            for finding in analyzer.analyze(target, c):
                c.check_deadline()
                c.findings.append(finding)

        key = _cache_key(analyzer, target) if self.cache is not None and isinstance(target, ArtifactView) else None
        if key is not None and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                hit.replay(ctx)
                ctx.commit()
                return CallOutcome.OK
        if isinstance(analyzer, LazyPlugin):
            if analyzer.spec.ignores(target):
                return CallOutcome.OK  # declared not to read this artifact: no need to load it
            analyzer.load()  # outside the crash wrapper: a configuration error is not a crash on this mail
        outcome = run_call(ctx, _call)
        if key is not None and self.cache is not None and outcome == CallOutcome.OK:
            cached = CachedCall.capture(ctx)
            if cached is not None:
                self.cache.put(key, cached)
        return outcome

    def _run_unpacker(self, scan: _Scan, unpacker: Unpacker, node: _Node, view: ArtifactView) -> list[_Node]:
        limits = self.config.limits
        children: list[_Node] = []
        ctx = CallContext(scan, unpacker.name, node.id)

        def _call(c: CallContext) -> None:
            for child in unpacker.unpack(view, c):
                c.check_deadline()
                if scan.files >= limits.max_files:
                    scan.limit(
                        NoteKind.LIMIT_FILES,
                        node.id,
                        f"stopped unpacking: max_files {limits.max_files} reached",
                    )
                    return
                child = self._bound_child(scan, node, child)
                scan.files += 1
                if child.data is not None:
                    scan.total_bytes += len(child.data)
                new = scan.new_node(node, child)
                children.append(new)

        if isinstance(unpacker, LazyPlugin):
            unpacker.load()
        run_call(ctx, _call)
        return children

    def _bound_child(self, scan: _Scan, parent: _Node, child: Child) -> Child:
        """Unpackers should not extract past max_child_size; if one did, its bytes are dropped here."""
        if child.data is None:
            return child
        cap = scan.max_child_size()
        if len(child.data) <= cap:
            return child
        scan.limit(
            NoteKind.LIMIT_SIZE,
            parent.id,
            f"member {child.name!r} of {len(child.data)} bytes exceeds the size budget ({cap} bytes left)",
        )
        return Child(
            data=None,
            name=child.name,
            declared_type=child.declared_type,
            declared_size=len(child.data),
            meta={**child.meta, "unreadable": "exceeds the size budget"},
        )

    def _analyze_message(
        self,
        scan: _Scan,
        parsed: ParsedEmail,
        artifact_id: str,
        envelope: Envelope | None,
        forwarded_how: str | None,
        wrapper: ParsedEmail | None,
        raw: bytes,
    ) -> None:
        view = MessageView(
            info=_with_artifact(parsed.info, artifact_id),
            artifact=artifact_id,
            headers=parsed.headers,
            text=parsed.text,
            html_text=parsed.html_text,
            html=parsed.html,
            defects=parsed.defects,
            charsets=parsed.charsets,
            x_mailer=parsed.x_mailer,
            attachment_names=tuple(p.filename for p in parsed.parts if p.filename and not p.is_body),
            envelope=envelope,
            raw=raw,
            forwarded_how=forwarded_how,
            wrapper=wrapper.info if wrapper is not None else None,
        )
        if time.monotonic() >= scan.deadline:
            scan.deadline = time.monotonic() + MESSAGE_GRACE_SECONDS
        for analyzer in self.analyzers:
            if analyzer.scope is Scope.MESSAGE:
                self._run_analyzer(scan, analyzer, view)

    # -- the report ---------------------------------------------------------------------------------------------
    def _report(
        self,
        scan: _Scan,
        raw: bytes,
        name: str | None,
        info: MessageInfo,
        wrapper: MessageInfo | None,
        timings: dict[str, float],
    ) -> Report:
        artifacts = tuple(scan.nodes[i].record() for i in scan.order)
        root_id = artifacts[0].id if artifacts else "a0"
        scored = score([*scan.findings, *scan.limit_findings()], scan.notes, self.config.scoring, root_id)
        timings["total"] = round(time.monotonic() - scan.started, 4)
        return Report(
            input=InputInfo(name=name, size=len(raw), sha256=hashlib.sha256(raw).hexdigest()),
            message=info,
            forwarded_by=wrapper,
            artifacts=artifacts,
            findings=scored.findings,
            notes=tuple(scan.notes),
            iocs=_iocs(info, artifacts, scan.iocs),
            score=scored.score,
            verdict=scored.verdict,
            timings=timings,
            tool_version=__version__,
        )


class AnalysisCache(Protocol):
    """Where an Engine keeps artifact-analyzer results by content (same bytes, name, types and meta → same
    findings), so a sweep does not analyse an attachment it has seen before again."""

    def get(self, key: str) -> CachedCall | None: ...

    def put(self, key: str, value: CachedCall) -> None: ...


@dataclass(frozen=True)
class CachedCall:
    """One artifact analyzer's output on one artifact, independent of the artifact's id in a given tree."""

    findings: tuple[tuple[str, float, tuple[str, ...]], ...]  # id, strength, evidence
    meta: tuple[tuple[str, JsonValue], ...]
    iocs: tuple[tuple[str, str], ...]

    @classmethod
    def capture(cls, ctx: CallContext) -> CachedCall | None:
        """None when the output is not a pure function of the artifact (notes, or facts about other artifacts)."""
        own = ctx.artifact_id
        if ctx.notes or any(f.artifact != own for f in ctx.findings) or any(a != own for a, _, _ in ctx.meta):
            return None
        return cls(
            findings=tuple((f.id, f.strength, f.evidence) for f in ctx.findings),
            meta=tuple((k, v) for _, k, v in ctx.meta),
            iocs=tuple(ctx.iocs),
        )

    def replay(self, ctx: CallContext) -> None:
        for finding_id, strength, evidence in self.findings:
            ctx.emit(finding_id, evidence, strength=strength)
        for key, value in self.meta:
            ctx.set_meta(key, value)
        ctx.iocs.extend(self.iocs)


def _cache_key(analyzer: Analyzer, view: ArtifactView) -> str | None:
    art = view.artifact
    # Only named files below the message (attachments, archive members) repeat across messages; the message
    # itself and its body parts are unique, and caching them would only evict what does repeat.
    if art.sha256 is None or not view.readable or art.depth == 0 or art.name is None:
        return None
    try:
        meta = json.dumps(dict(art.meta), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return json.dumps([analyzer.name, art.sha256, art.name, art.declared_type, list(art.types), art.depth, meta])


def _accepts(accepts: frozenset[str], types: tuple[str, ...]) -> bool:
    return "*" in accepts or not accepts.isdisjoint(types)


def _with_artifact(info: MessageInfo, artifact_id: str) -> MessageInfo:
    return replace(info, artifact=artifact_id)


def _ioc_key(kind: str, value: str) -> str:
    """What makes two indicators the same: host names, addresses and hashes ignore case; a URL's path does not."""
    if kind == "urls":
        scheme, sep, rest = value.partition("://")
        if not sep:
            return value
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}"
    if kind == "ips":
        try:
            return str(ipaddress.ip_address(value.strip("[]")))
        except ValueError:
            return value.lower()
    return value.lower().rstrip(".") if kind == "domains" else value.lower()


def _hashed(artifact: Artifact) -> bool:
    return (
        artifact.sha256 is not None
        and artifact.depth > 0
        and _HASHED_TYPES_SKIP.isdisjoint(artifact.types)
        and not artifact.meta.get("body")
        and artifact.meta.get("decoded") not in DECODED_TEXT_VIEWS
    )


def _iocs(info: MessageInfo, artifacts: Sequence[Artifact], found: dict[str, dict[str, str]]) -> Iocs:
    emails = {_ioc_key("emails", a): a for a in (info.from_, *info.reply_to, info.return_path, info.sender) if a}
    for key, value in found["emails"].items():
        emails.setdefault(key, value)
    hashes = {a.sha256: a.sha256 for a in artifacts if a.sha256 and _hashed(a)}
    for key, value in found["hashes"].items():
        hashes.setdefault(key, value)
    return Iocs(
        urls=tuple(found["urls"].values()),
        domains=tuple(found["domains"].values()),
        ips=tuple(found["ips"].values()),
        emails=tuple(emails.values()),
        hashes=tuple(hashes.values()),
    )


def _load_wordlist(config: Config) -> tuple[str, ...]:
    path = config.rules_path(config.passwords.wordlist)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the password list: {exc.strerror}") from exc
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
