"""`triage extract`: which artifacts of a scanned message to pack, under what names, and the encrypted zip.

The selection works on the Report (artifact types, findings, meta), so what is extracted is exactly what the
report describes; the bytes come from `Engine.scan(keep=...)`, which hands over each artifact's bytes once, as
the budget admitted them (so the most ever held is the scan's own limits: `max_message_size` for the message
plus `max_total_size` for everything unpacked from it).

Words used here and in the help:

- a **file** is an artifact the sender or an archive delivered as a file: below the message, readable, not a
  message body part (``meta.body``) and not a view our decoders reconstructed (VBA/XLM macro source, PDF
  JavaScript: ``meta.decoded``). An embedded object carved from an RTF or a decrypted Office document is a file.
- a **payload** is a file whose content type can carry code or hide it (executables, scripts, shortcuts,
  documents, PDFs, archives, disk images, HTML/SVG, content we could not identify), or any other file that a
  finding with weight points at (a JPEG with an XOR-encoded executable behind it), or that the scan's deadline
  left unidentified. Plain text, pictures and forwarded messages themselves are not payloads; what they carry
  may be.

Nothing leaves this module in the clear: members are written through pyzipper's WinZip AES-256 into a temporary
file inside the output folder, then renamed. Member names are the content's SHA-256 plus a defanged extension
(``.exe_``), never a name from the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.engine import DECODED_TEXT_VIEWS
from triage.model import Artifact, Finding, JsonValue, Report
from triage.names import escape_controls, real_extension

PASSWORD = "infected"  # noqa: S105 - the convention for sharing malware, not a secret
ENCRYPTION = "WinZip AES-256 (AE-2)"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "triage-extract/1"

# Content that runs code, carries it, or hides it. "unknown" is here: content we cannot identify is not harmless.
PAYLOAD_TAGS = frozenset(
    {
        # executables and scripts
        "pe",
        "msdos",
        "elf",
        "macho",
        "lnk",
        "chm",
        "msi",
        "jar",
        "hta",
        "wsf",
        "script-js",
        "script-vbs",
        "script-ps1",
        "script-bat",
        "script-encoded",
        # documents
        "pdf",
        "rtf",
        "ole",
        "ooxml",
        "ooxml-encrypted",
        "jtd",
        "onenote",
        "html",
        "svg",
        # archives and disk images
        "zip",
        "7z",
        "rar",
        "lzh",
        "ace",
        "cab",
        "gzip",
        "bzip2",
        "xz",
        "tar",
        "iso",
        "vhd",
        "unknown",
    }
)
# The extension for content whose name does not say it honestly (or that has no name), most specific tag first.
_EXT_BY_TAG: tuple[tuple[str, str], ...] = (
    ("pe-dll", "dll"),
    ("pe", "exe"),
    ("msdos", "exe"),
    ("elf", "elf"),
    ("macho", "macho"),
    ("lnk", "lnk"),
    ("chm", "chm"),
    ("msi", "msi"),
    ("jar", "jar"),
    ("hta", "hta"),
    ("wsf", "wsf"),
    ("script-encoded", "jse"),
    ("script-js", "js"),
    ("script-vbs", "vbs"),
    ("script-ps1", "ps1"),
    ("script-bat", "bat"),
    ("docx", "docx"),
    ("xlsx", "xlsx"),
    ("pptx", "pptx"),
    ("ooxml", "docx"),
    ("ooxml-encrypted", "docx"),
    ("doc", "doc"),
    ("xls", "xls"),
    ("ppt", "ppt"),
    ("jtd", "jtd"),
    ("msg", "msg"),
    ("ole", "ole"),
    ("pdf", "pdf"),
    ("rtf", "rtf"),
    ("onenote", "one"),
    ("zip", "zip"),
    ("7z", "7z"),
    ("rar", "rar"),
    ("lzh", "lzh"),
    ("ace", "ace"),
    ("cab", "cab"),
    ("gzip", "gz"),
    ("bzip2", "bz2"),
    ("xz", "xz"),
    ("tar", "tar"),
    ("iso", "iso"),
    ("vhd", "vhd"),
    ("email", "eml"),
    ("svg", "svg"),
    ("html", "html"),
    ("image", "image"),
    ("text", "txt"),
)
_SAFE_EXT = re.compile(r"[a-z0-9]{1,10}")
# The filename analyzer's verdict that a name's extension lies about the content.
_NAME_LIES = frozenset({"FILENAME_TYPE_MISMATCH"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ExtractError(Exception):
    """Nothing was written: the reason is in the message."""


@dataclass(frozen=True)
class Selection:
    """What to extract; the union of what each part selects. Nothing given means payloads."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    payloads: bool = False
    everything: bool = False

    @property
    def defaulted(self) -> bool:
        return not (self.ids or self.types or self.payloads or self.everything)


@dataclass(frozen=True)
class Skipped:
    """An artifact that was asked for (or could not be read) and is not in the zip."""

    id: str
    name: str | None
    reason: str


@dataclass(frozen=True)
class Chosen:
    artifact: Artifact
    member: str
    why: tuple[str, ...]  # which part of the selection took it: id, type:TAG, payload, all


@dataclass(frozen=True)
class Plan:
    chosen: tuple[Chosen, ...]
    skipped: tuple[Skipped, ...] = ()


@dataclass(frozen=True)
class Written:
    zip_path: Path
    manifest_path: Path
    members: int
    plan: Plan
    manifest: Mapping[str, JsonValue] = field(default_factory=dict)


def is_file(artifact: Artifact) -> bool:
    """Delivered as a file (see the module docstring): below the message, readable, no body part, no decoded view."""
    return (
        artifact.depth > 0
        and artifact.sha256 is not None
        and not artifact.meta.get("body")
        and artifact.meta.get("decoded") not in DECODED_TEXT_VIEWS
    )


def findings_by_artifact(report: Report) -> dict[str, list[Finding]]:
    """The report's findings grouped by the artifact they are on (built once per plan, not per artifact)."""
    out: dict[str, list[Finding]] = {}
    for finding in report.findings:
        out.setdefault(finding.artifact, []).append(finding)
    return out


def is_payload(report: Report, artifact: Artifact, on: Mapping[str, Sequence[Finding]] | None = None) -> bool:
    """`on` is `findings_by_artifact(report)`, when the caller has it."""
    if not is_file(artifact):
        return False
    if not artifact.types or not PAYLOAD_TAGS.isdisjoint(artifact.types):
        return True  # no types: the deadline stopped the walk before this file was even identified
    if "email" in artifact.types:
        return False  # a forwarded message: its findings are about the mail; what it carries is judged itself
    found = (on if on is not None else findings_by_artifact(report)).get(artifact.id, ())
    return any(f.weight > 0 for f in found)


def member_name(report: Report, artifact: Artifact, on: Mapping[str, Sequence[Finding]] | None = None) -> str:
    """``<sha256>.<ext>_``: the trailing underscore means no extension Windows, macOS or a desktop acts on.

    The extension is the name's own when it is plain ASCII and the filename analyzer did not call it a lie (a
    macro document keeps ``docm``, which a sandbox needs to enable macros); otherwise it comes from the content
    type (``2011_08.doc`` that is a PE becomes ``.exe_``). A name can thus choose at most ten [a-z0-9]
    characters of one file's extension, and never a path.
    """
    if artifact.sha256 is None or not _HEX64.fullmatch(artifact.sha256):
        raise ValueError(f"artifact {artifact.id} has no SHA-256")
    ext = ""
    if artifact.name:
        found = (on if on is not None else findings_by_artifact(report)).get(artifact.id, ())
        lies = any(f.id in _NAME_LIES for f in found)
        own = real_extension(artifact.name)
        if not lies and _SAFE_EXT.fullmatch(own):
            ext = own
    if not ext:
        ext = next((e for tag, e in _EXT_BY_TAG if tag in artifact.types), "bin")
    return f"{artifact.sha256}.{ext}_"


def plan(report: Report, selection: Selection) -> Plan:
    """The artifacts `selection` takes, in report order, each with its member name; raises on an unknown id."""
    by_id = {a.id: a for a in report.artifacts}
    unknown = [i for i in selection.ids if i not in by_id]
    if unknown:
        raise ExtractError(f"no artifact {', '.join(unknown)} in this message (ids: {_id_range(report)})")
    wanted_ids = set(selection.ids)
    wanted_types = set(selection.types)
    payloads = selection.payloads or selection.defaulted
    on = findings_by_artifact(report)
    chosen: list[Chosen] = []
    skipped: list[Skipped] = []
    for art in report.artifacts:
        why: list[str] = []
        if art.id in wanted_ids:
            why.append("id")
        if is_file(art):
            why.extend(f"type:{tag}" for tag in art.types if tag in wanted_types)
            if payloads and is_payload(report, art, on):
                why.append("payload")
        if selection.everything and art.depth > 0:
            why.append("all")
        if not why:
            continue
        if art.sha256 is None:
            reason = str(art.meta.get("unreadable") or "content not available")
            skipped.append(Skipped(art.id, _escaped(art.name), reason))
            continue
        chosen.append(Chosen(art, member_name(report, art, on), tuple(why)))
    return Plan(tuple(chosen), tuple(skipped))


def scan_keeping(scan: Callable[..., Report], raw: bytes, name: str | None) -> tuple[Report, dict[str, bytes]]:
    """Scan with `Engine.scan` and keep every artifact's bytes by id (bounded by the scan's own limits)."""
    blobs: dict[str, bytes] = {}

    def keep(artifact_id: str, data: bytes) -> None:
        blobs[artifact_id] = data

    report = scan(raw, name=name, keep=keep)
    return report, blobs


def output_paths(out: Path, digest: str) -> tuple[Path, Path]:
    """``<DIR>/<input sha256>.zip`` and its manifest beside it: one pair per message, named by its hash only."""
    if not _HEX64.fullmatch(digest):
        raise ValueError("report input has no SHA-256")
    return out / f"{digest}.zip", out / f"{digest}.{MANIFEST_NAME}"


def write(
    out: Path,
    report: Report,
    the_plan: Plan,
    blobs: Mapping[str, bytes],
    *,
    selection: Selection,
    force: bool = False,
) -> Written:
    """Write the encrypted zip and the manifest into `out` (created if missing); raises ExtractError."""
    if not the_plan.chosen:
        hint = "; no payloads in this message (--all takes every artifact)" if selection.defaulted else ""
        raise ExtractError(f"nothing selected to extract{hint}")
    zip_path, manifest_path = output_paths(out, report.input.sha256)
    _make_dir(out)
    refuse_existing((zip_path, manifest_path), force)
    # Bytes are checked against the report's hash first: the zip holds what the report describes, or nothing.
    members: dict[str, bytes] = {}
    for item in the_plan.chosen:
        data = blobs.get(item.artifact.id)
        if data is None or hashlib.sha256(data).hexdigest() != item.artifact.sha256:
            raise ExtractError(f"the bytes of {item.artifact.id} were not kept by the scan")
        members.setdefault(item.member, data)
    manifest = build_manifest(report, the_plan, selection, zip_path.name)
    text = manifest_json(manifest)
    _atomic_write(out, zip_path, lambda fh: _write_zip(fh, members, text), force)
    try:
        _atomic_write(out, manifest_path, lambda fh: fh.write(text.encode("utf-8")), force)
    except ExtractError:
        zip_path.unlink(missing_ok=True)  # a zip without its manifest beside it would look complete
        raise
    return Written(zip_path, manifest_path, len(members), the_plan, manifest)


def build_manifest(report: Report, the_plan: Plan, selection: Selection, zip_name: str) -> dict[str, JsonValue]:
    """What is in the zip and why: the report's facts about each member, and no byte of any payload."""
    by_id = {a.id: a for a in report.artifacts}
    on = findings_by_artifact(report)
    entries: list[JsonValue] = []
    for item in the_plan.chosen:
        art = item.artifact
        entries.append(
            {
                "member": item.member,
                "id": art.id,
                "name": _escaped(art.name),
                "display_name": _escaped(art.display_name),
                "declared_type": _escaped(art.declared_type),
                "types": list(art.types),
                "size": art.size,
                "sha256": art.sha256,
                "sha1": art.sha1,
                "md5": art.md5,
                "payload": is_payload(report, art, on),
                "selected_by": list(item.why),
                "parents": _parents(by_id, art),
                "findings": [
                    {"id": f.id, "weight": f.weight, "strength": f.strength, "evidence": list(f.evidence)}
                    for f in on.get(art.id, ())
                ],
            }
        )
    unreadable = [
        {"id": a.id, "name": _escaped(a.name), "reason": str(a.meta.get("unreadable") or "content not available")}
        for a in report.artifacts
        if a.sha256 is None and a.depth > 0
    ]
    return {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": report.tool_name, "version": report.tool_version},
        "input": {"name": _escaped(report.input.name), "size": report.input.size, "sha256": report.input.sha256},
        "message": {
            "from": _escaped(report.message.from_),
            "subject": _escaped(report.message.subject),
            "message_id": _escaped(report.message.message_id),
        },
        "verdict": {
            "level": report.verdict.level.value,
            "complete": report.verdict.complete,
            "score": report.score.total,
        },
        "zip": {"name": zip_name, "password": PASSWORD, "encryption": ENCRYPTION},
        "selection": {
            "ids": list(selection.ids),
            "types": list(selection.types),
            "all_payloads": selection.payloads or selection.defaulted,
            "all": selection.everything,
        },
        "artifacts": entries,
        "skipped": [{"id": s.id, "name": s.name, "reason": s.reason} for s in the_plan.skipped],
        "unreadable": unreadable,
    }


def manifest_json(manifest: Mapping[str, JsonValue]) -> str:
    # As the report's JSON: Japanese stays readable, any control or bidi character left is a \\u escape.
    from triage.report.json import escape_unsafe

    return escape_unsafe(json.dumps(manifest, ensure_ascii=False, indent=2)) + "\n"


# -- helpers -----------------------------------------------------------------------------------------------------
def _escaped(text: str | None) -> str | None:
    return escape_controls(text) if text is not None else None


def _parents(by_id: Mapping[str, Artifact], art: Artifact) -> list[JsonValue]:
    """From the direct parent up to the message; bounded by the tree (ids only point upwards)."""
    chain: list[JsonValue] = []
    seen = {art.id}
    parent = art.parent
    while parent is not None and parent in by_id and parent not in seen:
        seen.add(parent)
        node = by_id[parent]
        chain.append({"id": node.id, "name": _escaped(node.name), "types": list(node.types)})
        parent = node.parent
    return chain


def _id_range(report: Report) -> str:
    ids = [a.id for a in report.artifacts]
    return f"{ids[0]}..{ids[-1]}" if ids else "none"


def _make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExtractError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from exc
    if not out.is_dir():
        raise ExtractError(f"{out}: not a folder")


def refuse_existing(paths: Iterable[Path], force: bool) -> None:
    """Raise ExtractError when any of `paths` exists (a dangling symlink too), unless `force`."""
    if force:
        return
    existing = [p for p in paths if os.path.lexists(p)]
    if existing:
        raise ExtractError(f"{' and '.join(map(str, existing))} already there; use --force to replace")


def _atomic_write(out: Path, final: Path, fill: Callable[[Any], object], force: bool) -> None:
    """Fill a temporary file inside `out`, then rename it over `final`; on any error the temporary file is removed."""
    try:
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".triage-extract-", suffix=".part")
    except OSError as exc:
        raise ExtractError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        refuse_existing((final,), force)  # again: another run may have written it meanwhile
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ExtractError(f"{final}: cannot write: {exc.strerror or exc}") from exc
        raise


def _write_zip(fh: Any, members: Mapping[str, bytes], manifest: str) -> None:
    # pyzipper encrypts each member as it is written, so the temporary file never holds a payload in the clear.
    import pyzipper

    with pyzipper.AESZipFile(
        fh,
        "w",
        compression=pyzipper.ZIP_DEFLATED,
        encryption=pyzipper.WZ_AES,
        encryption_kwargs={"nbits": 256},
    ) as zf:
        zf.setpassword(PASSWORD.encode("ascii"))
        for name, data in members.items():
            zf.writestr(_info(zf, name), data)
        zf.writestr(_info(zf, MANIFEST_NAME), manifest.encode("utf-8"))


def _info(zf: Any, name: str) -> Any:
    # A fixed date: the zip should not tell when the analyst ran the tool.
    info = zf.zipinfo_cls(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zf.compression
    info.external_attr = 0o600 << 16
    return info


def escaped_names(items: Sequence[Chosen]) -> list[str]:
    """One line per chosen artifact for a terminal: id, member, escaped name, types."""
    return [
        f"{c.artifact.id:<5} {c.member}  {_escaped(c.artifact.name) or '(unnamed)'}  [{', '.join(c.artifact.types)}]"
        for c in items
    ]
