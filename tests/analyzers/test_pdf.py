"""The PDF analyzer (and the walk in triage.pdfscan): findings, evidence, encryption, fallbacks, bounds."""

from __future__ import annotations

import email
import email.policy
import io
import statistics
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from samplekit import pdf as sk

from tests._pe import minimal_pe
from tests.conftest import CORPUS, make_message
from tests.unpack._fake_ctx import FakeConfig, FakeContext, pw, view
from triage.analyzers.pdf import PdfAnalyzer
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.pdfscan import PdfLimits, scan_pdf
from triage.plugins import DeadlineExceeded, PasswordCandidate


@dataclass
class _Config(FakeConfig):
    analyzers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def analyzer_options(self, name: str) -> Mapping[str, Any]:
        return self.analyzers.get(name, {})


class Ctx(FakeContext):
    """FakeContext plus strengths and IOCs."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("config", _Config())
        super().__init__(**kwargs)
        self.strengths: dict[str, float] = {}
        self.iocs: list[tuple[str, str]] = []

    def emit(
        self, finding_id: str, evidence: Sequence[str] = (), *, strength: float = 1.0, artifact: str | None = None
    ) -> None:
        super().emit(finding_id, evidence, strength=strength, artifact=artifact)
        self.strengths[finding_id] = strength

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))


def analyze(data: bytes, candidates: Sequence[PasswordCandidate] = (), **kwargs: Any) -> Ctx:
    ctx = Ctx(candidates=candidates, **kwargs)
    analyzer = PdfAnalyzer()
    analyzer.setup(ctx.config)
    assert list(analyzer.analyze(view(data, "doc.pdf", ("pdf",)), ctx)) == []
    return ctx


def joined(ctx: Ctx, finding_id: str) -> str:
    return " | ".join(ctx.evidence(finding_id))


# -- clean documents --------------------------------------------------------------------------------------------


def test_plain_text_pdf_has_no_findings_and_no_notes() -> None:
    ctx = analyze(sk.text_pdf(["Agenda", "1. Results"]))
    assert ctx.emits == []
    assert ctx.notes == []
    assert ctx.meta["pdf_objects"] == 5


def test_link_is_an_ioc_not_a_finding() -> None:
    ctx = analyze(sk.uri_pdf("https://login.example.invalid/verify"))
    assert ctx.ids() == []
    assert ctx.iocs == [("urls", "https://login.example.invalid/verify")]
    assert ctx.meta["pdf_uris"] == 1
    assert ctx.meta["pdf_actions"] == {"URI": 1}


# -- JavaScript and automatic actions ---------------------------------------------------------------------------


def test_openaction_javascript() -> None:
    ctx = analyze(sk.javascript_pdf())
    assert sorted(ctx.ids()) == ["PDF_AUTO_ACTION", "PDF_JAVASCRIPT"]
    assert "JavaScript action (obj 6) via /OpenAction" in joined(ctx, "PDF_JAVASCRIPT")
    assert 'begins "app.alert("sample");"' in joined(ctx, "PDF_JAVASCRIPT")
    assert ctx.evidence("PDF_AUTO_ACTION") == ("/OpenAction → JavaScript (obj 6)",)
    assert ctx.strengths == {"PDF_JAVASCRIPT": 1.0, "PDF_AUTO_ACTION": 1.0}


def test_javascript_in_a_flate_stream_and_suspicious_calls() -> None:
    script = 'var s = unescape("%u0c0c%u0c0c"); eval(String.fromCharCode(97));'
    ctx = analyze(sk.javascript_pdf(script, as_stream=True))
    evidence = joined(ctx, "PDF_JAVASCRIPT")
    assert "calls unescape, eval, String.fromCharCode" in evidence
    assert "(obj 7)" in evidence  # the script's own stream


def test_form_field_script_only_is_weaker_and_not_automatic() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [6 0 R] >>",
        b"<< >>",
        b"<< >>",
        b"<< /FT /Tx /T (total) /Subtype /Widget /Rect [0 0 10 10] /AA << /C 7 0 R /K 7 0 R >> >>",
        b"<< /S /JavaScript /JS (event.value = 1 + 1;) >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert ctx.ids() == ["PDF_JAVASCRIPT"]
    assert ctx.strengths["PDF_JAVASCRIPT"] == 0.6
    assert "form field /AA /C" in joined(ctx, "PDF_JAVASCRIPT")


def test_page_open_aa_and_next_chain_are_automatic() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /AA << /O 4 0 R >> >>",
        b"<< /S /GoTo /D [3 0 R /Fit] /Next [5 0 R] >>",
        b"<< /S /Launch /F (report.exe) /Next 4 0 R >>",  # a loop back: must end
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert "page /AA /O → /Next → Launch (obj 5)" in joined(ctx, "PDF_AUTO_ACTION")
    assert ctx.strengths["PDF_LAUNCH"] == 1.0
    assert 'Launch "report.exe"' in joined(ctx, "PDF_LAUNCH")


def test_document_level_javascript_hidden_in_an_object_stream() -> None:
    data = sk.objstm_javascript_pdf()
    assert b"/JS" not in data and b"/JavaScript" not in data  # nothing for a grep to find
    ctx = analyze(data)
    assert "document-level JavaScript (/Names)" in joined(ctx, "PDF_JAVASCRIPT")
    assert ctx.strengths["PDF_JAVASCRIPT"] == 1.0
    assert "PDF_AUTO_ACTION" in ctx.ids()
    assert ctx.meta["pdf_tokens"] == {"JavaScript": 2, "JS": 1, "ObjStm": 1}  # counted inside the object stream


def test_xfa_script() -> None:
    xfa = (
        b'<xdp:xdp><template><script contentType="application/x-javascript">app.alert(1);</script></template></xdp:xdp>'
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 4 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        sk.stream("", xfa),
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert "XFA form (obj 4)" in joined(ctx, "PDF_JAVASCRIPT")
    assert ctx.meta["pdf_xfa"] is True


# -- Launch, remote actions, obfuscation ------------------------------------------------------------------------


def test_openaction_launch_of_cmd() -> None:
    ctx = analyze(sk.launch_pdf("cmd.exe", "/c echo sample"))
    assert sorted(ctx.ids()) == ["PDF_AUTO_ACTION", "PDF_LAUNCH"]
    evidence = ctx.evidence("PDF_LAUNCH")
    assert evidence[0] == 'Launch "cmd.exe" with parameters "/c echo sample"'
    assert evidence[1] == "/OpenAction → Launch (obj 6)"
    assert ctx.strengths["PDF_LAUNCH"] == 1.0
    assert ctx.strengths["PDF_AUTO_ACTION"] == 1.0


def test_launch_of_a_document_on_click_is_weaker() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /Launch /F (notes.txt) >> >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert ctx.ids() == ["PDF_LAUNCH"]
    assert ctx.strengths["PDF_LAUNCH"] == 0.7
    assert "no automatic trigger → Launch (obj 4)" in joined(ctx, "PDF_LAUNCH")


def test_remote_action_to_a_unc_path() -> None:
    ctx = analyze(sk.remote_action_pdf("\\\\198.51.100.7\\share\\doc.pdf"))
    assert ctx.evidence("PDF_REMOTE_ACTION") == ('GoToR to "\\\\198.51.100.7\\share\\doc.pdf" (UNC path)',)
    assert ctx.strengths["PDF_REMOTE_ACTION"] == 1.0
    assert ctx.strengths["PDF_AUTO_ACTION"] == 0.5  # opening a file is not running code


def test_submit_form_url_is_an_ioc() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
        b"<< /Type /Annot /Subtype /Widget /FT /Btn /T (ok) /Rect [0 0 9 9]"
        b" /A << /S /SubmitForm /F << /FS /URL /F (https://collect.example.invalid/p) >> >> >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert ctx.ids() == ["PDF_REMOTE_ACTION"]
    assert ("urls", "https://collect.example.invalid/p") in ctx.iocs


def test_obfuscated_names() -> None:
    ctx = analyze(sk.obfuscated_names_pdf())
    evidence = ctx.evidence("PDF_OBFUSCATED_NAME")
    assert '"/O#70enAction" is "/OpenAction"' in evidence
    assert '"/J#61vaScript" is "/JavaScript"' in evidence
    assert '"/J#53" is "/JS"' in evidence
    assert ctx.strengths["PDF_OBFUSCATED_NAME"] == 1.0
    # qpdf reads the escaped names as the real ones: the action is found too
    assert {"PDF_JAVASCRIPT", "PDF_AUTO_ACTION"} <= set(ctx.ids())


def test_needed_escapes_are_not_obfuscation() -> None:
    # "#20" (space) and "#2F" ("/") must be escaped; Shift_JIS font names are escaped bytes
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> >>",
        b"<< /Type /Font /Subtype /TrueType /BaseFont /MS#20Gothic /Encoding /#82l#82r#20#83S#83V#83b#83N >>",
        b"<< /Type /EmbeddedFile /Subtype /text#2Fplain /Length 0 >>\nstream\n\nendstream",
        b"<< /S /URI /URI (https://docs.example/guide/page#41) >>",  # a URL fragment is not a name
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert "PDF_OBFUSCATED_NAME" not in ctx.ids()


def test_escaped_ordinary_name_is_weaker() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /M#65diaBox [0 0 595 842] >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert ctx.strengths["PDF_OBFUSCATED_NAME"] == 0.5


# -- embedded files ---------------------------------------------------------------------------------------------


def test_embedded_executable() -> None:
    ctx = analyze(sk.embedded_file_pdf("calendar.exe", minimal_pe(), "application/x-msdownload"))
    evidence = ctx.evidence("PDF_EMBEDDED_FILE")
    assert evidence[0] == "1 embedded file(s)"
    assert '"calendar.exe" (obj 8, /EmbeddedFiles)' in evidence[1]
    assert "content starts with MZ" in evidence[1]
    assert ctx.strengths["PDF_EMBEDDED_FILE"] == 1.0


def test_executable_content_under_a_document_name_is_full_strength() -> None:
    ctx = analyze(sk.file_attachment_pdf("invoice.docx", minimal_pe()))
    assert "FileAttachment annotation" in joined(ctx, "PDF_EMBEDDED_FILE")
    assert ctx.strengths["PDF_EMBEDDED_FILE"] == 1.0


def test_embedded_xml_invoice_is_weak() -> None:
    ctx = analyze(sk.embedded_file_pdf("factur-x.xml", b"<?xml version='1.0'?><Invoice/>", "text/xml"))
    assert ctx.strengths["PDF_EMBEDDED_FILE"] == 0.3


# -- encryption -------------------------------------------------------------------------------------------------


def test_user_password_from_the_body_opens_it() -> None:
    data = sk.encrypted_pdf("pass-7731")
    ctx = analyze(data, [pw("nope"), pw("pass-7731")])
    assert ctx.evidence("ARCHIVE_ENCRYPTED") == ("doc.pdf", "PDF needs a password to open", "RC4-128 (R4)")
    assert ctx.evidence("ARCHIVE_PASSWORD_IN_BODY") == ('PDF opened with "pass-7731" found in the body',)
    assert ctx.meta["password"] == "pass-7731"
    assert {"PDF_JAVASCRIPT", "PDF_AUTO_ACTION"} <= set(ctx.ids())
    assert ("urls", "https://login.example.invalid/verify") in ctx.iocs  # the URI string was encrypted
    assert ctx.notes == []


def test_password_from_the_shared_list_is_not_evidence_against_the_sender() -> None:
    ctx = analyze(sk.encrypted_pdf("123"), [pw("123", source="list")])
    assert "ARCHIVE_PASSWORD_IN_BODY" not in ctx.ids()
    assert ctx.meta["password_source"] == "list"


def test_no_password_is_never_clean() -> None:
    ctx = analyze(sk.encrypted_pdf("pass-7731"), [pw("wrong")])
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" in ctx.ids()
    assert ctx.note_kinds() == [NoteKind.ENCRYPTED_NO_PASSWORD]
    # names are never encrypted: the raw tokens still tell of the script
    assert ctx.strengths["PDF_JAVASCRIPT"] == 0.8
    assert "structure not readable" in joined(ctx, "PDF_JAVASCRIPT")
    assert ctx.meta["pdf_user_password"] is True
    assert ctx.meta["pdf_encryption"] == "standard security handler (R4)"


def test_owner_password_only_is_metadata() -> None:
    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(sk.text_pdf())) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="", owner="secret", R=6), static_id=True)
    ctx = analyze(out.getvalue())
    assert ctx.ids() == []
    assert ctx.notes == []
    assert ctx.meta["pdf_encryption"] == "AES-256 (R6)"
    assert ctx.meta["pdf_user_password"] is False


# -- damaged files ----------------------------------------------------------------------------------------------


def test_broken_xref_is_repaired() -> None:
    ctx = analyze(sk.broken_xref_pdf())
    assert sorted(ctx.ids()) == ["PDF_AUTO_ACTION", "PDF_JAVASCRIPT"]
    assert ctx.meta["pdf_repaired"] is True
    assert ctx.notes == []


def test_truncated_file_judged_by_raw_tokens() -> None:
    ctx = analyze(sk.truncated_pdf())
    assert ctx.strengths["PDF_JAVASCRIPT"] == 0.8
    assert "the parsed structure does not reach" in joined(ctx, "PDF_JAVASCRIPT")
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_unopenable_fragment_falls_back_to_raw_tokens() -> None:
    ctx = analyze(sk.fragment_pdf())
    assert ctx.strengths == {"PDF_JAVASCRIPT": 0.8, "PDF_AUTO_ACTION": 0.4}
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]
    assert "unable to find trailer dictionary" in ctx.notes[0][1]
    assert "0x" not in ctx.notes[0][1]  # no memory address in a report


def test_tokens_inside_compressed_streams_of_an_unopenable_file() -> None:
    hidden = zlib.compress(b"1 0 obj << /S /JavaScript /JS (x) >> endobj")
    data = (
        b"%PDF-1.5\n9 0 obj\n<< /Length " + str(len(hidden)).encode() + b" /Filter /FlateDecode >>\nstream\n" + hidden
    )
    ctx = analyze(data + b"\nendstream\nendobj\n")
    assert "PDF_JAVASCRIPT" in ctx.ids()
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-",
        b"%PDF-1.7\n" + bytes(range(256)) * 8,
        b"%PDF-1.4\n1 0 obj\n<< /Length 999999999 >>\nstream\nabc",
        b"%PDF-1.4\n" + b"[" * 5000 + b"\ntrailer << /Root 1 0 R >>",
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 1 0 R /Names << /JavaScript 1 0 R >> /Kids [1 0 R] >>\nendobj"
        b"\ntrailer << /Root 1 0 R >>\n%%EOF",
    ],
)
def test_garbage_never_raises(data: bytes) -> None:
    ctx = analyze(data)
    assert all(kind is not NoteKind.CRASHED for kind in ctx.note_kinds())


def test_mutated_samples_never_raise() -> None:
    sources = [sk.javascript_pdf(), sk.objstm_javascript_pdf(), sk.embedded_file_pdf("a.exe", minimal_pe())]
    for source in sources:
        for step in range(1, len(source), max(1, len(source) // 40)):
            analyze(source[:step])  # every truncation
            flipped = bytearray(source)
            flipped[step] ^= 0xFF
            analyze(bytes(flipped))


def test_deadline_is_not_swallowed() -> None:
    with pytest.raises(DeadlineExceeded):
        analyze(sk.objstm_javascript_pdf(), deadline_after=3)


# -- bounds -----------------------------------------------------------------------------------------------------


def test_long_script_is_cut_and_marked() -> None:
    script = "var a = 1;\n" * 50_000
    ctx = Ctx()
    facts = scan_pdf(sk.javascript_pdf(script, as_stream=True), ctx, PdfLimits(max_script_bytes=1000))
    assert len(facts.scripts[0].text) == 1000
    assert facts.scripts[0].truncated


def test_object_stream_bomb_is_capped() -> None:
    # an object stream inflating to 64 MiB: qpdf and our decoder stop at max_decoded_stream
    bomb = zlib.compress(b"1 0 << /S /JavaScript /JS (x) >>" + b" " * (64 << 20), 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        sk.stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", bomb),
    ]
    ctx = Ctx()
    facts = scan_pdf(sk.build_pdf(objects), ctx, PdfLimits(max_decoded_stream=1 << 20))
    assert facts.parsed
    assert facts.tokens.count("JS") == 1  # the head of the stream was still scanned


def test_max_objects_is_a_note() -> None:
    ctx = analyze(sk.javascript_pdf(), config=_Config(analyzers={"pdf": {"max_objects": 2}}))
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        PdfAnalyzer().setup(_Config(analyzers={"pdf": {"max_object": 5}}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PdfAnalyzer().setup(_Config(analyzers={"pdf": {"max_objects": 0}}))  # type: ignore[arg-type]


def test_shipped_config_sets_up() -> None:
    config = load_config()
    analyzer = PdfAnalyzer()
    analyzer.setup(config)
    config.scoring.check_emits(analyzer.name, analyzer.emits)


# -- through the engine -----------------------------------------------------------------------------------------


def test_engine_password_in_japanese_body(engine: Engine) -> None:
    raw = make_message(
        subject="請求書の送付",
        body="請求書をお送りします。\nパスワード：Km-7731\nよろしくお願いいたします。",
        attachments=[("請求書.pdf", sk.encrypted_pdf("Km-7731"), "application/pdf")],
    )
    report = engine.scan(raw)
    ids = {f.id for f in report.findings}
    assert {"ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY", "PDF_JAVASCRIPT", "PDF_AUTO_ACTION"} <= ids
    assert "https://login.example.invalid/verify" in report.iocs.urls
    assert report.verdict.complete


# -- real PDFs --------------------------------------------------------------------------------------------------


def _corpus_pdfs() -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for path in sorted(CORPUS.glob("*/**/*.eml")):
        raw = path.read_bytes()
        if b"pdf" not in raw.lower():
            continue
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for part in msg.walk():
            if part.is_multipart():
                continue
            try:
                data = part.get_payload(decode=True)
            except Exception:  # a broken part is the parser tests' business
                continue
            if isinstance(data, bytes) and b"%PDF-" in data[:1024]:
                found.append((path.name, data))
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_corpus_pdfs_analyze_without_error() -> None:
    pdfs = _corpus_pdfs()
    assert len(pdfs) >= 50
    times: list[float] = []
    for name, data in pdfs:
        ctx = Ctx(candidates=[pw("123"), pw("62734")])
        started = time.perf_counter()
        analyze_ok = analyze_quiet(data, ctx)
        times.append(time.perf_counter() - started)
        assert analyze_ok, name
    print(f"\n{len(times)} PDFs: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")


def analyze_quiet(data: bytes, ctx: Ctx) -> bool:
    analyzer = PdfAnalyzer()
    analyzer.setup(ctx.config)
    list(analyzer.analyze(view(data, "doc.pdf", ("pdf",)), ctx))
    return True


def test_inline_name_tree_javascript_is_document_level() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript << /Kids [4 0 R] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Names [(a) << /S /JavaScript /JS (this.exportDataObject({cName: 'a', nLaunch: 2});) >>] >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    evidence = joined(ctx, "PDF_JAVASCRIPT")
    assert "document-level JavaScript (/Names) (obj 4)" in evidence
    assert "calls exportDataObject" in evidence
    assert ctx.evidence("PDF_AUTO_ACTION") == ("document-level JavaScript (/Names) → JavaScript (obj 4)",)


def test_qpdf_messages_stay_off_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    # a damaged page tree whose repair fails: qpdf logs "Pages tree includes non-dictionary object" through
    # Python logging, which would print it to stderr with no handler configured
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /MediaBox [0 0 612 792] /Count 1 /Kids [ 3 \xc9 R ] >>",
        b"<< /Type /Page /Parent 2 0 R >>",
    ]
    whole = sk.build_pdf(objects)
    ctx = analyze(whole[: whole.index(b"xref\n")])
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_leading_junk_is_tolerated() -> None:
    # readers accept a header anywhere in the first 1024 bytes, and so does the file typer
    ctx = analyze(b"MZ junk " * 50 + sk.launch_pdf())
    assert sorted(ctx.ids()) == ["PDF_AUTO_ACTION", "PDF_LAUNCH"]


def test_repaired_file_with_a_destination_openaction_stays_clean() -> None:
    # /OpenAction [page /Fit] only shows a page: common in benign files, some of which need repair
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    damaged = sk.build_pdf(objects).replace(b"startxref\n", b"startxref\n9")
    ctx = analyze(damaged)
    assert ctx.meta["pdf_repaired"] is True
    assert ctx.ids() == []
    assert ctx.notes == []


def test_rich_media_annotation() -> None:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
        b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 99 99] /RichMediaContent << /Assets << /Names [] >> >> >>",
    ]
    ctx = analyze(sk.build_pdf(objects))
    assert ctx.evidence("PDF_RICH_MEDIA") == ("RichMedia (Flash/3D) content",)
    assert "PDF_RICH_MEDIA" not in analyze(sk.text_pdf()).strengths
