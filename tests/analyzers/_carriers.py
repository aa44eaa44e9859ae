"""Test helpers for the carrier analyzers: a recording context, artifact views with bytes, and corpus readers
that keep REAL MALWARE in memory (py7zr / zipfile into BytesIO; nothing is extracted to disk)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS
from tests.unpack._fake_ctx import FakeConfig, FakeContext
from triage.filetype import FileTyper
from triage.model import Artifact, Finding, JsonValue
from triage.plugins import ArtifactView

HELSECERT = CORPUS / "office" / "helsecert-malspam-7z-infected"
OLETOOLS = CORPUS / "office" / "oletools-test-data"
_TYPER = FileTyper()


class Ctx(FakeContext):
    """FakeContext plus what analyzers use: IOCs, and the config's analyzer options."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(config=kwargs.pop("config", None) or FakeConfig(), **kwargs)
        self.iocs: list[tuple[str, str]] = []
        self.emit_strengths: dict[str, float] = {}

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))

    def emit(
        self, finding_id: str, evidence: Sequence[str] = (), *, strength: float = 1.0, artifact: str | None = None
    ) -> None:
        super().emit(finding_id, evidence, strength=strength, artifact=artifact)
        self.emit_strengths[finding_id] = strength


def view_of(
    data: bytes, name: str | None, types: tuple[str, ...] | None = None, meta: dict[str, JsonValue] | None = None
) -> ArtifactView:
    """An artifact with its bytes, typed by FileTyper unless `types` is given."""
    artifact = Artifact(
        id="a1",
        parent="a0",
        depth=1,
        name=name,
        display_name=name,
        declared_type=None,
        types=types if types is not None else _TYPER.tags(data, name),
        size=len(data),
        md5=None,
        sha1=None,
        sha256=None,
        meta=meta or {},
    )
    return ArtifactView(artifact=artifact, data=data)


def by_id(findings: Sequence[Finding]) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for f in findings:
        assert f.id not in out, f"{f.id} emitted twice"
        out[f.id] = f
    return out


def helsecert(archive: str) -> dict[str, bytes]:
    """The members of one helsecert 7z (password "infected"), in memory; skips when the corpus is absent."""
    path = HELSECERT / archive
    if not path.is_file():
        pytest.skip(f"corpus file {path} not present")
    import py7zr
    from py7zr.io import BytesIOFactory

    factory = BytesIOFactory(64 * 1024 * 1024)
    with py7zr.SevenZipFile(io.BytesIO(path.read_bytes()), password="infected") as archive_file:
        archive_file.extractall(factory=factory)  # path=None + a factory: members stay in memory
    out: dict[str, bytes] = {}
    for name, product in factory.products.items():
        product.seek(0)
        out[Path(name).name] = product.read()
    return out


def one(archive: str) -> tuple[str, bytes]:
    members = helsecert(archive)
    assert len(members) == 1
    return next(iter(members.items()))


def oletools_file(relative: str) -> bytes:
    path = OLETOOLS / relative
    if not path.is_file():
        pytest.skip(f"corpus file {path} not present")
    return path.read_bytes()


def oletools_zip_member(relative: str) -> dict[str, bytes]:
    """Members of an oletools test zip (ZipCrypto, password "infected-test" as oletools ships them), in memory."""
    data = oletools_file(relative)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info, pwd=b"infected-test") for info in zf.infolist() if not info.is_dir()}
