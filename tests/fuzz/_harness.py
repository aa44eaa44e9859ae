"""What every fuzz harness shares: the targets (what one input is fed to), their seed corpora (built in code from
`samples/samplekit` and `samples/*.eml`), and `main`, which instruments triage and hands a target to atheris.

A target's `run(data)` raises only when *our* public API let an exception escape: an unpacker's `unpack`, the
engine's `scan` (or a `crashed` Note inside it: a plugin raised and the runner caught it), the filename helpers,
the password-candidate extraction. A Note, `DeadlineExceeded` and an unparsable input are fine.

The same `run` functions back `test_regressions.py`, so a saved crash input replays exactly as it was found.
triage is imported lazily (inside functions) so that `main` can import it under `atheris.instrument_imports`.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import importlib
import io
import os
import pkgutil
import struct
import sys
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FINDINGS = ROOT / "tests" / "fuzz" / "findings"
for _path in (ROOT, ROOT / "samples"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Small limits: every input must finish well inside atheris' per-input `-timeout`.
DEADLINE_SECONDS = 2.0
MAX_CHILD = 1024 * 1024
# An input that takes this long has outrun its deadline (and the engine's grace for message analyzers) by far.
SLOW_SECONDS = 4 * DEADLINE_SECONDS + 2
LIMITS = {
    "max_depth": 6,
    "max_files": 60,
    "max_file_size": MAX_CHILD,
    "max_total_size": 4 * MAX_CHILD,
    "max_seconds": DEADLINE_SECONDS,
    "max_message_size": 2 * MAX_CHILD,
}
# The samples' passwords (06, 07, 25, 27 and the office builders below), so decryption paths are reached.
PASSWORDS = ("Kinen2026", "pass-7731", "infected")

# Libraries whose Python code parses attacker bytes for a target: instrumented too, so coverage guides into them.
_LIBS: dict[str, tuple[str, ...]] = {
    "sevenzip": ("py7zr",),
    "rar": ("rarfile",),
    "lzh": ("lhafile",),
    "iso": ("pycdlib",),
    "cab": ("cabarchive",),
    "office": ("olefile", "oletools", "msoffcrypto"),
    "pe_overlay": ("pefile",),
    "engine": ("olefile", "pefile"),
}


class FuzzCrash(Exception):
    """A plugin crashed inside Engine.scan: the runner turned it into a `crashed` Note; fuzzing calls it a bug."""


# -- the engine context for one unpacker call ----------------------------------------------------------------------
@cache
def _config() -> Any:
    from triage.config import load_config

    return load_config(overrides={"limits": LIMITS, "passwords": {"max_candidates": 20, "max_attempts": 3}})


@cache
def _typer() -> Any:
    from triage.filetype import FileTyper

    return FileTyper()


def _state() -> Any:
    """The smallest ScanState: a deadline, a fixed child budget, the samples' passwords as candidates."""
    from triage.plugins import PasswordCandidate
    from triage.runner import ScanState

    class _FuzzState(ScanState):
        def __init__(self) -> None:
            self.config = _config()
            self.deadline = time.monotonic() + DEADLINE_SECONDS
            self.findings = []
            self.notes = []

        def commit_meta(self, artifact: str, key: str, value: Any) -> None:
            pass

        def max_child_size(self) -> int:
            return MAX_CHILD

        def password_candidates(self) -> Sequence[PasswordCandidate]:
            return tuple(PasswordCandidate(value=p, source="body") for p in PASSWORDS)

        def add_message(self, artifact_id: str, parsed: Any) -> None:
            pass

        def add_iocs(self, iocs: Sequence[tuple[str, str]]) -> None:
            pass

        def parsed_for(self, artifact_id: str) -> Any:
            return None

    return _FuzzState()


def _view(data: bytes, name: str, types: tuple[str, ...]) -> Any:
    from tests.unpack._fake_ctx import view  # imported here: triage must load under atheris' instrumentation

    return view(data, name, types)


@cache
def _unpackers(family: str) -> tuple[Any, ...]:
    """The unpackers a family target feeds, in the registry's order (the first that accepts the tags runs)."""
    from triage.registry import default_unpackers

    names = {"compressed": ("gzip", "tar", "bzip2-xz")}.get(family, (family,))
    chosen = []
    for unpacker in default_unpackers():
        if unpacker.name in names:
            unpacker.setup(_config())
            chosen.append(unpacker)
    if not chosen:
        raise LookupError(f"no unpacker for {family!r}")
    return tuple(chosen)


@contextmanager
def _no_external_tools() -> Iterator[None]:
    """RAR members are listed by rarfile's header parser; unar (a subprocess per member) is kept out of fuzzing.
    Only for the call: the same process may run the real thing next (pytest runs the regressions beside the rest)."""
    from unittest import mock

    from triage.unpack import rar

    with mock.patch.dict(rar._ENV, {"PATH": "/nonexistent"}):
        yield


def run_unpacker(family: str, data: bytes, name: str = "input") -> Any:
    """Feed `data` to the family's unpacker the way the engine would (only if its type tags reach it); the call's
    context (its `notes`, `findings`, and `children`, the number of members yielded), or None when not reached."""
    from triage.plugins import DeadlineExceeded
    from triage.runner import CallContext

    tags = _typer().tags(data, name)
    unpacker = next((u for u in _unpackers(family) if not u.accepts.isdisjoint(tags)), None)
    if unpacker is None:
        return None  # the engine would never hand these bytes to this family
    ctx = CallContext(_state(), unpacker.name, "a1")
    children = 0
    try:
        with _no_external_tools():
            for child in unpacker.unpack(_view(data, name, tags), ctx):
                ctx.check_deadline()
                children += 1
                if child.data is not None:
                    len(child.data)
    except DeadlineExceeded:
        pass
    ctx.children = children
    return ctx


@cache
def _engine() -> Any:
    from triage.engine import Engine

    return Engine(_config())


def run_engine(data: bytes) -> Any:
    """The whole scan on raw bytes; a `crashed` Note (a plugin raised) is a finding too. Returns the Report."""
    from triage.model import NoteKind

    with _no_external_tools():
        report = _engine().scan(data, name="fuzz.eml")
    report.to_dict()  # the report must serialise, whatever the input put in it
    crashed = [n for n in report.notes if n.kind is NoteKind.CRASHED and n.detail != "MemoryError"]
    if crashed:
        raise FuzzCrash(f"{crashed[0].component}: {crashed[0].detail}")
    return report


def run_names(data: bytes) -> None:
    """display_name, escape_controls, extensions, padding, and the filename analyzer on a fuzzed name."""
    from triage import names
    from triage.analyzers.filename import FilenameAnalyzer
    from triage.runner import CallContext

    text = data.decode("utf-8", "replace")
    names.display_name(text)
    shown = names.escape_controls(text)
    if any(names.is_hidden(ch) for ch in shown if ch != "\\"):
        raise AssertionError(f"escape_controls left a hidden character in {shown!r}")
    names.real_extension(text)
    names.strip_windows_trailing(text)
    names.padding_runs(text)
    analyzer = _filename_analyzer(FilenameAnalyzer)
    ctx = CallContext(_state(), analyzer.name, "a1")
    list(analyzer.analyze(_view(b"MZ" + bytes(62), text, ("pe", "exe")), ctx))


@cache
def _filename_analyzer(cls: type) -> Any:
    analyzer = cls()
    analyzer.setup(_config())
    return analyzer


@cache
def _cues() -> tuple[str, ...]:
    from triage.unpack.passwords import load_cue_words

    config = _config()
    return load_cue_words(config.rules_path(config.passwords.keywords))


def run_passwords(data: bytes) -> None:
    """password_candidates on fuzzed body / subject / html text; its documented bounds must hold."""
    from triage.unpack.passwords import password_candidates

    text = data.decode("utf-8", "replace")
    body, _, rest = text.partition("\x00")
    subject, _, html = rest.partition("\x00")
    limit = 20
    found = password_candidates(
        [("body", body), ("subject", subject), ("html", html)],
        wordlist=("password", "infected"),
        extra=(),
        limit=limit,
        cues=_cues(),
    )
    values = [c.value for c in found]
    if len(values) > limit or len(set(values)) != len(values) or any(not v or len(v) > 64 for v in values):
        raise AssertionError(f"candidates break their bounds: {values!r}")


# -- targets ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: Callable[[], Iterator[bytes]]
    libs: tuple[str, ...] = ()


def _unpacker_target(family: str) -> Target:
    def seeds() -> Iterator[bytes]:
        for data in _seed_pool():
            if any(not u.accepts.isdisjoint(_typer().tags(data, "input")) for u in _unpackers(family)):
                yield data

    return Target(family, lambda data: run_unpacker(family, data), seeds, _LIBS.get(family, ()))


UNPACKER_FAMILIES = (
    "zip",
    "sevenzip",
    "rar",
    "lzh",
    "compressed",
    "iso",
    "cab",
    "office",
    "rtf",
    "onenote",
    "pdf",
    "pe_overlay",
)


def targets() -> dict[str, Target]:
    out = {f: _unpacker_target(f) for f in UNPACKER_FAMILIES}
    out["engine"] = Target("engine", run_engine, _message_seeds, _LIBS["engine"])
    out["names"] = Target("names", run_names, _name_seeds)
    out["passwords"] = Target("passwords", run_passwords, _password_seeds)
    return out


# -- seeds -----------------------------------------------------------------------------------------------------
def _eml_files() -> list[Path]:
    return sorted((ROOT / "samples").glob("*.eml"))


def _message_seeds() -> Iterator[bytes]:
    for path in _eml_files():
        raw = path.read_bytes()
        if len(raw) <= LIMITS["max_message_size"] and len(raw) <= 64 * 1024:
            yield raw
    yield b"From: a@example.jp\r\nSubject: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=\r\n\r\nbody\r\n"


def _attachments(raw: bytes) -> Iterator[bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.is_multipart() or part.get_filename() is None:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            yield payload


def _zip_members(data: bytes) -> Iterator[bytes]:
    if not data.startswith(b"PK"):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist()[:20]:
                if info.flag_bits & 1 or info.file_size > 256 * 1024:
                    continue
                yield zf.read(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError):
        return


def _rar4(members: list[tuple[bytes, bytes]], *, encrypted: bool = False) -> bytes:
    """A RAR 2.9 archive of stored members, field by field (as tests/unpack/test_rar.py writes them)."""

    def block(head_type: int, flags: int, body: bytes) -> bytes:
        rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest

    out = bytearray(b"Rar!\x1a\x07\x00")
    out += block(0x73, 0, bytes(6))
    for name, data in members:
        flags = 0x8000 | (0x0004 if encrypted else 0)
        body = struct.pack(
            "<IIBIIBBHI", len(data), len(data), 2, zlib.crc32(data), 0x5D725000, 29, 0x30, len(name), 0x22
        )
        out += block(0x74, flags, body + name) + data
    out += block(0x7B, 0x4000, b"")
    return bytes(out)


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def rar5_header_encrypted(kdf_shift: int) -> bytes:
    """A RAR5 archive whose headers are encrypted (AES-256, password check value present, 2^kdf_shift PBKDF2
    rounds), followed by 64 bytes standing in for the encrypted headers: enough for rarfile to try a password."""
    check = bytes(range(8))
    body = _vint(4) + _vint(0) + _vint(0) + _vint(1) + bytes([kdf_shift]) + b"S" * 16
    body += check + hashlib.sha256(check).digest()[:4]
    block = _vint(len(body)) + body
    return b"Rar!\x1a\x07\x01\x00" + struct.pack("<I", zlib.crc32(block)) + block + bytes(64)


def _small_iso(joliet: bool, udf: bool) -> bytes:
    import pycdlib

    iso = pycdlib.PyCdlib()
    kwargs: dict[str, Any] = {"interchange_level": 3}
    if joliet:
        kwargs["joliet"] = 3
    if udf:
        kwargs["udf"] = "2.60"
    iso.new(**kwargs)
    content = b"@echo harmless\r\n"
    paths: dict[str, str] = {"iso_path": "/RUN.BAT;1"}
    if joliet:
        paths["joliet_path"] = "/run.bat"
    if udf:
        paths["udf_path"] = "/run.bat"
    iso.add_fp(io.BytesIO(content), len(content), **paths)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def _cab(members: list[tuple[str, bytes]], compress: bool) -> bytes:
    from cabarchive import CabArchive, CabFile

    archive = CabArchive()
    for name, data in members:
        archive[name] = CabFile(data)
    return bytes(archive.save(compress=compress))


def _built() -> Iterator[bytes]:
    """One or two harmless instances of every container family, from the samples' own builders."""
    import bz2
    import gzip
    import lzma
    import tarfile

    from samplekit import archives, carriers, office, pdf, pe, yara_examples
    from samplekit.batch import zipcrypto_zip

    exe = archives.harmless_exe()
    text = "パスワード: pass-7731\r\n".encode()
    yield exe
    yield zipcrypto_zip("資料.exe", exe, "Kinen2026")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/b/readme.txt", text)
        zf.writestr("inner.zip", zipcrypto_zip("x.txt", text, "infected"))
    yield buf.getvalue()
    yield archives.sevenzip([("a.txt", text)])
    yield archives.sevenzip([("a.txt", text)], password="pass-7731")
    yield archives.sevenzip([("a.txt", text)], password="pass-7731", encrypt_names=True)
    yield _rar4([(b"a.txt", text), ("資料.exe".encode("cp932"), exe[:64])])
    yield _rar4([(b"a.txt", text)], encrypted=True)
    yield rar5_header_encrypted(15)
    yield archives.lzh_stored([("見積書.txt", text)])
    yield archives.tar_xz([("a.txt", text)])
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        info = tarfile.TarInfo("docs/a.txt")
        info.size = len(text)
        tf.addfile(info, io.BytesIO(text))
    yield tar.getvalue()
    yield gzip.compress(text)
    yield bz2.compress(text)
    yield lzma.compress(text)
    yield gzip.compress(tar.getvalue())
    yield _small_iso(joliet=True, udf=False)
    yield _small_iso(joliet=False, udf=False)  # UDF images are 0.5 MB: too big a seed for useful mutation
    yield _cab([("setup.txt", text), ("run.exe", exe[:128])], compress=True)
    yield _cab([("setup.txt", text)], compress=False)
    yield office.macro_doc()
    yield office.macro_xls()
    yield office.remote_template_docx()
    yield office.dde_docx()
    yield office.package_docx(exe[:256])
    yield office.encrypted_docx("pass-7731")
    yield carriers.rtf_package("run.exe", exe[:128])
    yield carriers.rtf_equation(hex_junk=True)
    yield yara_examples.rtf_obfuscated_object()
    yield carriers.onenote_like([b"@echo off\r\necho harmless\r\n", b"\x89PNG\r\n\x1a\n" + bytes(24)], names=["a.bat"])
    yield pdf.embedded_file_pdf("run.exe", exe[:128])
    yield pdf.file_attachment_pdf("a.txt", text)
    yield pdf.javascript_pdf(as_stream=True)
    yield pdf.objstm_javascript_pdf()
    yield pdf.broken_xref_pdf()
    yield pdf.encrypted_pdf()
    yield pe.sfx_pe(zipcrypto_zip("a.txt", text, "infected"))
    yield pe.beacon_pe()


@cache
def _seed_pool() -> tuple[bytes, ...]:
    pool: dict[str, bytes] = {}
    for data in _built():
        pool.setdefault(hashlib.sha1(data).hexdigest(), data)
    for path in _eml_files():
        for data in _attachments(path.read_bytes()):
            for item in (data, *_zip_members(data)):
                if len(item) <= 128 * 1024:
                    pool.setdefault(hashlib.sha1(item).hexdigest(), item)
    return tuple(pool.values())


def _name_seeds() -> Iterator[bytes]:
    for name in (
        "invoice\u202efdp.exe",
        "資料.pdf\u3000\u3000\u3000\u3000.exe",
        "report.doc.exe",
        "a\u2067b\u2069c.\u200bexe. ",
        "\u05d0\u05d1.txt",
        "dir\\sub/\u202dx\u202c.scr",
        "(\u202e[x]).js",
    ):
        yield name.encode()


def _password_seeds() -> Iterator[bytes]:
    yield "パスワード：Ｋｉｎｅｎ２０２６\r\n別途お送りします".encode()
    yield "password: 'pass-7731'\n\x00Re: 資料\x00<p>PW「abc123」</p>".encode()
    yield "解凍パスワードは下記の通りです。\n\n  x9Yq-22\n".encode()
    yield b"Pass = hunter2; pw:secret, PIN 1234"


# -- running ---------------------------------------------------------------------------------------------------
def _crash_key(exc: BaseException) -> str:
    """Where our code let the exception through: its type and the deepest frame inside triage."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}triage{os.sep}" in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno}" if where is not None else "?"
    detail = str(exc).splitlines()[0][:200] if isinstance(exc, FuzzCrash) else ""
    return f"{type(exc).__name__} at {place} {detail}".strip()


def _keep_going(target: Target) -> Callable[[bytes], None]:
    """For `make fuzz`: record each distinct crash (first input + traceback) and go on fuzzing."""
    out = FINDINGS / target.name
    seen: set[str] = set()

    def record(data: bytes, key: str, detail: str) -> None:
        if key in seen:
            return
        seen.add(key)
        out.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()
        (out / f"crash-{digest}").write_bytes(data)
        (out / f"crash-{digest}.txt").write_text(f"{key}\n\n{detail}", encoding="utf-8")
        with (out / "crashes.log").open("a", encoding="utf-8") as log:
            log.write(f"crash-{digest}\t{key}\n")
        print(f"#FUZZ-CRASH {target.name} crash-{digest} {key}", flush=True)

    def one(data: bytes) -> None:
        started = time.monotonic()
        try:
            target.run(data)
        except Exception as exc:
            record(data, _crash_key(exc), traceback.format_exc())
            return
        took = time.monotonic() - started
        if took > SLOW_SECONDS:
            # The input ran far past its deadline: some loop does not check it. Keep the first few.
            slow = sum(1 for k in seen if k.startswith("slow"))
            if slow < 3:
                record(data, f"slow #{slow + 1}: {took:.1f} s (deadline {DEADLINE_SECONDS} s)", "")

    return one


# Front ends, renderers and message sources: not on the path of one scan's bytes.
_NOT_ANALYSIS = ("triage.frontends", "triage.gateway", "triage.batch", "triage.report", "triage.sources")


def _analysis_modules() -> list[str]:
    import triage

    return [
        m.name
        for m in pkgutil.walk_packages(triage.__path__, "triage.")
        if not m.name.startswith(_NOT_ANALYSIS) and not m.ispkg
    ]


def main(name: str) -> None:
    """Fuzz one target. libFuzzer flags pass through; without a corpus folder the seeds are written to
    findings/corpus/<name>/. FUZZ_KEEP_GOING=1 records crashes and continues instead of stopping at the first."""
    import atheris

    target = targets()[name]
    with atheris.instrument_imports(include=["triage", *target.libs]):
        # Imported here, under instrumentation, so that libFuzzer sees their branches. The registry imports
        # plugins lazily, so every analysis module is imported by name.
        for module in (*_analysis_modules(), *target.libs):
            importlib.import_module(module)
    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = FINDINGS / "corpus" / name
        corpus.mkdir(parents=True, exist_ok=True)
        for seed in target.seeds():
            (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)
        args.append(str(corpus))
    if not any(a.startswith("-artifact_prefix=") for a in args):
        (FINDINGS / name).mkdir(parents=True, exist_ok=True)
        args.append(f"-artifact_prefix={FINDINGS / name}{os.sep}")
    one = _keep_going(target) if os.environ.get("FUZZ_KEEP_GOING") == "1" else target.run
    atheris.Setup(args, one)
    atheris.Fuzz()
