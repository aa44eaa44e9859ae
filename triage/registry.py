"""The plugin tuples. A reader finds every unpacker and analyzer here; there is no import magic.

Order matters for unpackers: the first whose `accepts` meets an artifact's type tags unpacks it.
"""

from __future__ import annotations

from triage.analyzers.chm import ChmAnalyzer
from triage.analyzers.executable import ExecutableAnalyzer
from triage.analyzers.filename import FilenameAnalyzer
from triage.analyzers.ichitaro import IchitaroAnalyzer
from triage.analyzers.ja_text import JapaneseTextAnalyzer
from triage.analyzers.live_auth import LiveAuthAnalyzer
from triage.analyzers.lnk import LnkAnalyzer
from triage.analyzers.lure import LureAnalyzer
from triage.analyzers.office import OfficeAnalyzer
from triage.analyzers.origin import ForeignOriginAnalyzer
from triage.analyzers.pdf import PdfAnalyzer
from triage.analyzers.pe import PeAnalyzer
from triage.analyzers.rtf import RtfAnalyzer
from triage.analyzers.script import ScriptAnalyzer
from triage.analyzers.sender import SenderAnalyzer
from triage.analyzers.urls import UrlAnalyzer
from triage.analyzers.yara_scan import YaraAnalyzer
from triage.plugins import Analyzer, Unpacker
from triage.unpack.cab import CabUnpacker
from triage.unpack.gzip import GzipUnpacker
from triage.unpack.iso import IsoUnpacker
from triage.unpack.lzh import LzhUnpacker
from triage.unpack.mime import MimeUnpacker
from triage.unpack.office import OfficeUnpacker
from triage.unpack.onenote import OneNoteUnpacker
from triage.unpack.pdf import PdfUnpacker
from triage.unpack.pe_overlay import PeOverlayUnpacker
from triage.unpack.rar import RarUnpacker
from triage.unpack.rtf import RtfUnpacker
from triage.unpack.sevenzip import SevenZipUnpacker
from triage.unpack.tar import CompressedStreamUnpacker, TarUnpacker
from triage.unpack.zip import ZipUnpacker


def default_unpackers() -> tuple[Unpacker, ...]:
    return (
        MimeUnpacker(),
        OfficeUnpacker(),
        ZipUnpacker(),
        GzipUnpacker(),
        SevenZipUnpacker(),
        RarUnpacker(),
        LzhUnpacker(),
        TarUnpacker(),
        CompressedStreamUnpacker(),
        IsoUnpacker(),
        CabUnpacker(),
        RtfUnpacker(),
        OneNoteUnpacker(),
        PeOverlayUnpacker(),
        PdfUnpacker(),
    )


def default_analyzers() -> tuple[Analyzer, ...]:
    return (
        FilenameAnalyzer(),
        ExecutableAnalyzer(),
        PeAnalyzer(),
        OfficeAnalyzer(),
        PdfAnalyzer(),
        LnkAnalyzer(),
        ScriptAnalyzer(),
        ChmAnalyzer(),
        RtfAnalyzer(),
        IchitaroAnalyzer(),
        SenderAnalyzer(),
        LiveAuthAnalyzer(),
        UrlAnalyzer(),
        ForeignOriginAnalyzer(),
        JapaneseTextAnalyzer(),
        LureAnalyzer(),
        YaraAnalyzer(),  # last: the widest scan (every artifact), after the cheap type and name checks
    )
