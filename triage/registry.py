"""The plugin tuples. A reader finds every unpacker and analyzer here; there is no import magic.

Each plugin is declared as data: its name, the module and class that implement it, the type tags it accepts and
the finding ids it emits (the class takes its `emits` from here, through `declared_emits`). The engine checks
`emits` against scoring.toml and dispatches on `accepts` from the declaration alone; the module is imported and the
plugin built and set up only when an artifact (or the message) first needs it, so a one-off `triage scan` pays
only for what the message holds. `tests/test_registry.py` proves every declaration equals its class, so the two
cannot drift.

Order matters for unpackers: the first whose `accepts` meets an artifact's type tags unpacks it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.plugins import Analyzer, ArtifactView, Child, PluginContext, Scope, Unpacker

if TYPE_CHECKING:
    from triage.config import Config
    from triage.model import Finding

_SCRIPT_IDS = frozenset({"SCRIPT_DOWNLOADER", "SCRIPT_LAUNCHER", "SCRIPT_OBFUSCATED"})
_SCRIPT_TAGS = frozenset({"hta", "wsf", "script-js", "script-vbs", "script-ps1", "script-bat", "script-encoded"})
_OFFICE_TAGS = frozenset({"ole", "doc", "xls", "ppt", "ooxml", "ooxml-encrypted", "docx", "xlsx", "pptx"})
_ENCRYPTED_IDS = frozenset({"ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY", "ARCHIVE_ENCRYPTED_NO_PASSWORD"})
_BOMB = frozenset({"ARCHIVE_BOMB"})


@dataclass(frozen=True)
class PluginSpec:
    """One plugin as data. `section` is its options table in the configuration ("unpack" or "analyzers")."""

    name: str
    module: str
    cls: str
    accepts: frozenset[str]
    emits: frozenset[str]
    scope: Scope | None = None  # analyzers only
    # Accepted tags that are only a maybe: an artifact whose tags are all among these is analysed only if its meta
    # has `maybe_meta`. Lets the engine skip loading a plugin for what it would ignore (the script analyzer reads a
    # text or HTML part only when the MIME unpacker flagged it "script"); the class applies the same rule.
    maybe_tags: frozenset[str] = frozenset()
    maybe_meta: str | None = None
    # Modules the plugin imports only when it first meets an artifact (its parser library, the codecs that library
    # loads). `Engine.warm_up` imports them and a gateway's fork server preloads them, so no mail pays for an
    # import; tests/test_registry.py proves a warmed-up Engine imports nothing new while scanning the samples.
    uses: tuple[str, ...] = ()

    def ignores(self, target: object) -> bool:
        if self.maybe_meta is None or not isinstance(target, ArtifactView):
            return False
        return self.accepts.isdisjoint(set(target.types) - self.maybe_tags) and not target.artifact.meta.get(
            self.maybe_meta
        )

    @property
    def section(self) -> str:
        return "analyzers" if self.scope is not None else "unpack"


def _u(
    name: str, module: str, cls: str, accepts: Iterable[str], emits: Iterable[str] = (), uses: Iterable[str] = ()
) -> PluginSpec:
    return PluginSpec(name, f"triage.unpack.{module}", cls, frozenset(accepts), frozenset(emits), uses=tuple(uses))


def _a(
    name: str,
    module: str,
    cls: str,
    scope: Scope,
    accepts: Iterable[str],
    emits: Iterable[str],
    uses: Iterable[str] = (),
) -> PluginSpec:
    return PluginSpec(
        name, f"triage.analyzers.{module}", cls, frozenset(accepts), frozenset(emits), scope, uses=tuple(uses)
    )


_A, _M = Scope.ARTIFACT, Scope.MESSAGE

# What the parser libraries load on first use, for `uses` (see PluginSpec).
_PDF_USES = ("pikepdf",)
_OLE_USES = ("olefile",)
# The charsets Japanese targeted mail and the documents it carries come in (and UTF-16, for names inside files).
_CODEC_USES = tuple(
    f"encodings.{codec}"
    for codec in (
        "iso2022_jp",
        "euc_jp",
        "shift_jis",
        "cp932",
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "euc_kr",
        "cp1252",
        "cp437",
        "utf_16",
        "utf_16_le",
        "utf_16_be",
    )
)

UNPACKERS: tuple[PluginSpec, ...] = (
    _u("mime", "mime", "MimeUnpacker", {"email"}, uses=_CODEC_USES),
    _u(
        "office",
        "office",
        "OfficeUnpacker",
        _OFFICE_TAGS,
        _BOMB | _ENCRYPTED_IDS | {"DOC_EMBEDDED_EXECUTABLE"},
        uses=(
            *_OLE_USES,
            "msoffcrypto",
            "msoffcrypto.format.ooxml",
            "msoffcrypto.format.doc97",
            "msoffcrypto.format.xls97",
            "msoffcrypto.format.ppt97",
            "msoffcrypto.method.ecma376_agile",
            "msoffcrypto.method.ecma376_standard",
            "oletools.oleobj",
            "xml.dom.minidom",
            "xml.dom.expatbuilder",
            "cryptography.hazmat.backends.openssl",
            "triage.native",
        ),
    ),
    _u("zip", "zip", "ZipUnpacker", {"zip"}, _BOMB | _ENCRYPTED_IDS, uses=("pyzipper", "Cryptodome.Cipher._mode_ctr")),
    _u("gzip", "gzip", "GzipUnpacker", {"gzip"}, _BOMB),
    _u(
        "sevenzip",
        "sevenzip",
        "SevenZipUnpacker",
        {"7z"},
        _BOMB | _ENCRYPTED_IDS,
        uses=(
            "py7zr",
            "py7zr.compressor",
            "Cryptodome.Cipher.AES",
            "Cryptodome.Cipher._mode_cbc",
            "psutil",
            "resource",
        ),
    ),
    _u("rar", "rar", "RarUnpacker", {"rar"}, _BOMB | _ENCRYPTED_IDS, uses=("rarfile",)),
    _u("lzh", "lzh", "LzhUnpacker", {"lzh"}, _BOMB, uses=("lhafile", "lzhlib")),
    _u("tar", "tar", "TarUnpacker", {"tar"}, _BOMB, uses=("tarfile",)),
    _u("bzip2-xz", "tar", "CompressedStreamUnpacker", {"bzip2", "xz"}, _BOMB, uses=("tarfile",)),
    _u("iso", "iso", "IsoUnpacker", {"iso"}, uses=("pycdlib", "pycdlib.pycdlibio", "_strptime")),
    _u("cab", "cab", "CabUnpacker", {"cab"}, _BOMB, uses=("cabarchive",)),
    _u("rtf", "rtf", "RtfUnpacker", {"rtf"}, {"DOC_RTF_EXPLOIT"}, uses=("oletools.rtfobj",)),
    _u("onenote", "onenote", "OneNoteUnpacker", {"onenote"}, {"ONENOTE_EMBEDDED_FILE"}),
    _u("pe_overlay", "pe_overlay", "PeOverlayUnpacker", {"pe"}, uses=("pefile",)),
    _u("pdf", "pdf", "PdfUnpacker", {"pdf"}, _BOMB, uses=_PDF_USES),
)

ANALYZERS: tuple[PluginSpec, ...] = (
    _a(
        "filename",
        "filename",
        "FilenameAnalyzer",
        _A,
        {"*"},
        {"FILENAME_RLO", "FILENAME_DOUBLE_EXT", "FILENAME_TYPE_MISMATCH"},
    ),
    _a("executable", "executable", "ExecutableAnalyzer", _A, {"*"}, {"ATTACHMENT_EXECUTABLE"}),
    _a(
        "pe",
        "pe",
        "PeAnalyzer",
        _A,
        {"pe"},
        {
            "PE_PACKED",
            "PE_SUSPICIOUS_IMPORTS",
            "PE_DYNAMIC_IMPORTS",
            "PE_NETWORK_INDICATORS",
            "PE_BEACON_FORMAT",
            "PE_TIMESTAMP_ANOMALY",
            "PE_SFX_ARCHIVE",
            "PE_EMBEDDED_EXECUTABLE",
            "PE_VERSION_NAME_MISMATCH",
        },
        uses=("pefile",),
    ),
    _a(
        "office",
        "office",
        "OfficeAnalyzer",
        _A,
        _OFFICE_TAGS,
        {
            "DOC_MACRO_AUTOEXEC",
            "DOC_MACRO_SUSPICIOUS",
            "DOC_MACRO_PRESENT",
            "DOC_DDE",
            "DOC_EXTERNAL_TEMPLATE",
            "DOC_CHINESE_CODEPAGE",
        },
        uses=(
            *_OLE_USES,
            "oletools.olevba",
            "oletools.mraptor",
            "oletools.msodde",
            "xml.etree.ElementTree",
            "xml.parsers.expat",
        ),
    ),
    _a(
        "pdf",
        "pdf",
        "PdfAnalyzer",
        _A,
        {"pdf"},
        _ENCRYPTED_IDS
        | {
            "PDF_JAVASCRIPT",
            "PDF_AUTO_ACTION",
            "PDF_LAUNCH",
            "PDF_EMBEDDED_FILE",
            "PDF_OBFUSCATED_NAME",
            "PDF_REMOTE_ACTION",
            "PDF_RICH_MEDIA",
        },
        uses=_PDF_USES,
    ),
    _a(
        "lnk",
        "lnk",
        "LnkAnalyzer",
        _A,
        {"lnk"},
        _SCRIPT_IDS | {"LNK_SUSPICIOUS_TARGET", "LNK_HIDDEN_ARGUMENTS", "LNK_ICON_DECOY"},
        uses=("LnkParse3",),
    ),
    PluginSpec(
        "script",
        "triage.analyzers.script",
        "ScriptAnalyzer",
        _SCRIPT_TAGS | {"text", "html"},
        _SCRIPT_IDS,
        _A,
        maybe_tags=frozenset({"text", "html"}),
        maybe_meta="script",
    ),
    _a("chm", "chm", "ChmAnalyzer", _A, {"chm"}, {"CHM_SCRIPT"}),
    _a("rtf", "rtf", "RtfAnalyzer", _A, {"rtf"}, {"DOC_RTF_EXPLOIT", "RTF_OBFUSCATED"}),
    _a(
        "ichitaro",
        "ichitaro",
        "IchitaroAnalyzer",
        _A,
        {"ole", "jtd"},
        {"ICHITARO_EMBEDDED_EXECUTABLE", "ICHITARO_UNUSUAL_STREAM", "SHELLCODE_PATTERN", "DOC_RTF_EXPLOIT"},
        uses=(*_OLE_USES, "oletools.common.clsid"),
    ),
    _a(
        "sender",
        "sender",
        "SenderAnalyzer",
        _M,
        (),
        {
            "SENDER_GOV_DISPLAY_NAME",
            "SENDER_GOV_LOOKALIKE",
            "SENDER_GOV_UNVERIFIED",
            "SENDER_REPLY_MISMATCH",
            "SENDER_FREEMAIL_ORG_CLAIM",
        },
        uses=("confusable_homoglyphs.confusables", "rapidfuzz.distance.Levenshtein"),
    ),
    _a("live_auth", "live_auth", "LiveAuthAnalyzer", _M, (), {"SENDER_GOV_UNVERIFIED", "SENDER_AUTH_FAIL"}),
    _a(
        "urls",
        "urls",
        "UrlAnalyzer",
        _M,
        (),
        {"URL_IP_LITERAL", "URL_TEXT_MISMATCH", "URL_LOOKALIKE_DOMAIN", "URL_SHORTENER"},
    ),
    _a("origin", "origin", "ForeignOriginAnalyzer", _M, (), {"HEADER_FOREIGN_ORIGIN"}),
    _a(
        "ja_text",
        "ja_text",
        "JapaneseTextAnalyzer",
        _M,
        (),
        {"JA_NON_JAPANESE_KANJI", "JA_UNNATURAL_PHRASE", "JA_LOW_NATURALNESS"},
    ),
    _a("lure", "lure", "LureAnalyzer", _M, (), {"LURE_THEME"}),
    # last: the widest scan (every artifact), after the cheap type and name checks
    _a("yara", "yara_scan", "YaraAnalyzer", _A, {"*"}, {"YARA_MATCH"}),
)


class LazyPlugin:
    """A declared plugin that imports its module and builds and sets up its class on first use.

    `setup` only remembers the configuration (the engine calls it for every plugin at start-up); `load` does the
    real work once and returns the plugin. The engine calls `load` outside the crash wrapper, so a configuration
    error surfaces as a ConfigError, never as a `crashed` note on some mail.
    """

    def __init__(self, spec: PluginSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.accepts = spec.accepts
        self.emits = spec.emits
        self._config: Config | None = None
        self._plugin: Any = None

    def __repr__(self) -> str:
        state = "loaded" if self._plugin is not None else "not loaded"
        return f"<{type(self).__name__} {self.name} ({self.spec.module}.{self.spec.cls}, {state})>"

    @property
    def loaded(self) -> bool:
        return self._plugin is not None

    def setup(self, config: Config) -> None:
        self._config = config
        self._plugin = None

    def load(self, *, prepare: bool = False) -> Any:
        """The plugin, built and set up; with `prepare`, also the one-off work it defers to first use."""
        if self._plugin is None:
            if self._config is None:
                raise RuntimeError(f"plugin {self.name}: load() before setup()")
            plugin = getattr(importlib.import_module(self.spec.module), self.spec.cls)()
            plugin.setup(self._config)
            self._plugin = plugin
        if prepare:
            for module in self.spec.uses:
                with contextlib.suppress(ImportError):  # the plugin reports a missing library on the artifact
                    importlib.import_module(module)
            prepare_plugin(self._plugin)
        return self._plugin


def prepare_plugin(plugin: object) -> None:
    """Run a plugin's optional `prepare()` (see triage.plugins): the one-off work it would do on first use."""
    if isinstance(plugin, LazyPlugin):
        plugin.load(prepare=True)
        return
    prepare = getattr(plugin, "prepare", None)
    if callable(prepare):
        prepare()


class LazyUnpacker(LazyPlugin):
    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        unpacker: Unpacker = self.load()
        return unpacker.unpack(target, ctx)


class LazyAnalyzer(LazyPlugin):
    def __init__(self, spec: PluginSpec) -> None:
        super().__init__(spec)
        if spec.scope is None:
            raise ValueError(f"analyzer {spec.name} has no scope")
        self.scope: Scope = spec.scope

    def analyze(self, target: Any, ctx: PluginContext) -> Iterable[Finding]:
        if self.spec.ignores(target):
            return ()
        analyzer: Analyzer = self.load()
        return analyzer.analyze(target, ctx)


# What the engine itself imports on first need: the Received parser's fallback, the forwarded-original reader.
ENGINE_USES = ("mailparser.utils", "triage.ingest.forward", "magic")


def warm_modules() -> tuple[str, ...]:
    """Every module a warmed-up Engine has imported: what a gateway's fork server preloads for its workers."""
    modules = dict.fromkeys(("triage.engine", *ENGINE_USES))
    for spec in (*UNPACKERS, *ANALYZERS):
        modules.update(dict.fromkeys((spec.module, *spec.uses)))
    return tuple(modules)


def declared_emits(module: str, cls: str) -> frozenset[str]:
    """The finding ids the declaration of `module`.`cls` emits. A plugin class takes its `emits` from here, so the
    engine's check against scoring.toml and the class read one list."""
    for spec in (*UNPACKERS, *ANALYZERS):
        if spec.module == module and spec.cls == cls:
            return spec.emits
    raise LookupError(f"{module}.{cls} is not declared in triage.registry")


def default_unpackers() -> tuple[Unpacker, ...]:
    """A fresh set per Engine (plugins hold per-Engine state)."""
    return tuple(LazyUnpacker(spec) for spec in UNPACKERS)


def default_analyzers() -> tuple[Analyzer, ...]:
    return tuple(LazyAnalyzer(spec) for spec in ANALYZERS)


def needs_eager_setup(config: Config) -> frozenset[str]:
    """Plugins to set up at start-up, not on first use: `*` for all, or names.

    The shipped options and rule files are proven by the test suite, so setting them up can wait for first use.
    Whatever a site changed is checked at start-up, so its mistakes fail there and never in the middle of a mail:
    any changed plugin option sets every plugin up (options tables are not one per plugin: the bzip2-xz unpacker
    reads `unpack.bzip2` and `unpack.xz`, the PDF analyzer `analyzers.pdf` beside `unpack.pdf`), extra YARA
    folders the YARA analyzer.
    """
    from triage.config import rules_dir
    from triage.errors import ConfigError
    from triage.rulefiles import read_toml

    try:
        if config.rules.resolve() != rules_dir().resolve():
            return frozenset({"*"})
        shipped = read_toml(config.rules / "analyzers.toml")
    except (ConfigError, OSError):
        return frozenset({"*"})
    if dict(config.unpack) != shipped.get("unpack", {}) or dict(config.analyzers) != shipped.get("analyzers", {}):
        return frozenset({"*"})
    return frozenset({"yara"}) if config.yara_rule_dirs else frozenset()
