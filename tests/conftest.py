"""Shared test helpers: one Engine per session, and `make_message` to build inputs in code."""

from __future__ import annotations

import io
import os
import sys
import zipfile
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from triage.engine import Engine
from triage.model import Artifact
from triage.plugins import ArtifactView

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "samples") not in sys.path:
    sys.path.insert(0, str(ROOT / "samples"))  # for `import samplekit` (harmless payload builders)
CORPUS = Path(os.environ.get("TRIAGE_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.fixture(autouse=True)
def _english_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests expect English output whatever the locale of the machine running them (ja_JP.UTF-8 included)."""
    monkeypatch.setenv("TRIAGE_LANG", "en")


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def make_message(
    *,
    subject: str = "テスト",
    body: str = "本文です。",
    sender: str = "Taro Yamada <taro@example.co.jp>",
    to: str = "hanako@example.jp",
    attachments: Sequence[tuple[str, bytes, str]] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """An RFC 5322 message with a text body and (name, bytes, mime type) attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 16 Nov 2026 10:00:00 +0900"
    msg["Message-ID"] = "<test@example.co.jp>"
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    for name, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=SMTP)


def make_zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


# The top-level keys of a report (DESIGN §5) that other tools rely on.
REPORT_KEYS = frozenset(
    {
        "schema_version",
        "tool",
        "input",
        "message",
        "artifacts",
        "findings",
        "notes",
        "iocs",
        "score",
        "verdict",
        "timings",
    }
)


def artifact_view(
    name: str | None,
    types: tuple[str, ...] = ("unknown",),
    *,
    unreadable: bool = False,
    artifact_id: str = "a1",
    depth: int = 1,
) -> ArtifactView:
    """An archive member or attachment as an artifact analyzer sees it (no bytes; types given)."""
    artifact = Artifact(
        id=artifact_id,
        parent="a0",
        depth=depth,
        name=name,
        display_name=None,
        declared_type=None,
        types=("unreadable",) if unreadable else types,
        size=0,
        md5=None,
        sha1=None,
        sha256=None,
        meta={"unreadable": "content not available"} if unreadable else {},
    )
    return ArtifactView(artifact=artifact, data=b"")
