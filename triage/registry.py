"""The plugin tuples. A reader finds every unpacker and analyzer here; there is no import magic.

Order matters for unpackers: the first whose `accepts` meets an artifact's type tags unpacks it.
"""

from __future__ import annotations

from triage.analyzers.executable import ExecutableAnalyzer
from triage.analyzers.filename import FilenameAnalyzer
from triage.analyzers.ja_text import JapaneseTextAnalyzer
from triage.analyzers.live_auth import LiveAuthAnalyzer
from triage.analyzers.lure import LureAnalyzer
from triage.analyzers.origin import ForeignOriginAnalyzer
from triage.analyzers.sender import SenderAnalyzer
from triage.analyzers.urls import UrlAnalyzer
from triage.plugins import Analyzer, Unpacker
from triage.unpack.gzip import GzipUnpacker
from triage.unpack.mime import MimeUnpacker
from triage.unpack.zip import ZipUnpacker


def default_unpackers() -> tuple[Unpacker, ...]:
    return (MimeUnpacker(), ZipUnpacker(), GzipUnpacker())


def default_analyzers() -> tuple[Analyzer, ...]:
    return (
        FilenameAnalyzer(),
        ExecutableAnalyzer(),
        SenderAnalyzer(),
        LiveAuthAnalyzer(),
        UrlAnalyzer(),
        ForeignOriginAnalyzer(),
        JapaneseTextAnalyzer(),
        LureAnalyzer(),
    )
