"""PST walking and rebuilding, on an object graph with pypff's interface: no PST writer exists (libpff only
reads) and no PST with a clear licence was found on this machine, so the graph stands in for one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage.ingest.eml import parse_email
from triage.sources.entry import want_all
from triage.sources.pst import iter_pst


@dataclass
class Entry:
    entry_type: int
    value: str

    def get_entry_type(self) -> int:
        return self.entry_type

    def get_data_as_string(self) -> str:
        return self.value


@dataclass
class RecordSet:
    entries: list[Entry]

    def get_number_of_entries(self) -> int:
        return len(self.entries)

    def get_entry(self, i: int) -> Entry:
        return self.entries[i]


@dataclass
class Attachment:
    name: str
    data: bytes = b""
    embedded: Any = None

    def get_number_of_record_sets(self) -> int:
        return 1

    def get_record_set(self, i: int) -> RecordSet:
        return RecordSet([Entry(0x3707, self.name)])

    def get_size(self) -> int:
        return len(self.data)

    def read_buffer(self, size: int) -> bytes:
        return self.data[:size]

    def get_number_of_sub_items(self) -> int:
        return 1 if self.embedded is not None else 0

    def get_sub_item(self, i: int) -> Any:
        return self.embedded


@dataclass
class Message:
    identifier: int
    subject: str
    klass: str = "IPM.Note"
    headers: str | None = None
    body: bytes | None = None
    html: bytes | None = None
    attachments: list[Attachment] = field(default_factory=list)

    def get_identifier(self) -> int:
        return self.identifier

    def get_number_of_record_sets(self) -> int:
        return 1

    def get_record_set(self, i: int) -> RecordSet:
        return RecordSet([Entry(0x0037, self.subject), Entry(0x001A, self.klass)])

    def get_transport_headers(self) -> str | None:
        return self.headers

    def get_subject(self) -> str:
        return self.subject

    def get_sender_name(self) -> str:
        return "Sender Name"

    def get_client_submit_time(self) -> datetime:
        return datetime(2026, 11, 18, 1, 0, tzinfo=UTC)

    def get_delivery_time(self) -> datetime:
        return datetime(2026, 11, 18, 1, 1, tzinfo=UTC)

    def get_plain_text_body(self) -> bytes | None:
        return self.body

    def get_html_body(self) -> bytes | None:
        return self.html

    def get_number_of_attachments(self) -> int:
        return len(self.attachments)

    def get_attachment(self, i: int) -> Attachment:
        return self.attachments[i]


@dataclass
class Folder:
    name: str
    messages: list[Message] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)

    def get_name(self) -> str:
        return self.name

    def get_number_of_sub_messages(self) -> int:
        return len(self.messages)

    def get_sub_message(self, i: int) -> Message:
        return self.messages[i]

    def get_number_of_sub_folders(self) -> int:
        return len(self.folders)

    def get_sub_folder(self, i: int) -> Folder:
        return self.folders[i]


@dataclass
class PstFile:
    root: Folder
    closed: bool = False

    def get_root_folder(self) -> Folder:
        return self.root

    def close(self) -> None:
        self.closed = True


HEADERS = (
    "Received: from mx.example.net (mx.example.net [203.0.113.5]) by mail.example.jp;\r\n"
    " Wed, 18 Nov 2026 10:00:00 +0900\r\n"
    "From: =?UTF-8?B?55Sw5Lit?= <tanaka@example.net>\r\n"
    "To: sato@example.jp\r\n"
    "Subject: =?UTF-8?B?6KaL56mN5pu4?=\r\n"
    "Date: Wed, 18 Nov 2026 10:00:00 +0900\r\n"
    "Message-ID: <pst-1@example.net>\r\n"
    "Content-Type: multipart/mixed; boundary=gone\r\n"
    "MIME-Version: 1.0\r\n"
)


def _graph() -> PstFile:
    inner = Message(identifier=99, subject="inner", body=b"embedded body")
    inbox = Folder(
        "Inbox",
        messages=[
            Message(
                2097188,
                "見積書",
                headers=HEADERS,
                body="本文です".encode(),
                attachments=[Attachment("見積書.zip", b"PK\x05\x06" + b"\0" * 18)],
            ),
            Message(2097220, "draft without headers", body=b"plain body", html=b"<p>html body</p>"),
            Message(2097252, "Yamada Taro", klass="IPM.Contact"),
            Message(2097284, "meeting", klass="IPM.Appointment"),
        ],
        folders=[
            Folder(
                "Sub/Dir",
                messages=[
                    Message(
                        2097316,
                        "with embedded",
                        body=b"see attached",
                        attachments=[Attachment("fwd.msg", embedded=inner)],
                    )
                ],
            )
        ],
    )
    return PstFile(Folder("", folders=[Folder("Top of Personal Folders", folders=[inbox])]))


def test_walk_skips_non_mail_and_keeps_folders() -> None:
    pst = _graph()
    entries = list(iter_pst("/x/a.pst", limit=1 << 20, want=want_all, opener=lambda _: pst))
    assert [(e.folder, e.source_id.rsplit("@", 1)[1]) for e in entries] == [
        ("Top of Personal Folders/Inbox", "2097188"),
        ("Top of Personal Folders/Inbox", "2097220"),
        ("Top of Personal Folders/Inbox/Sub_Dir", "2097316"),
    ]
    assert all(e.kind == "rfc822" for e in entries) and pst.closed


def test_rebuilt_messages_parse() -> None:
    entries = list(iter_pst("/x/a.pst", limit=1 << 20, want=want_all, opener=lambda _: _graph()))
    first = parse_email(entries[0].data)
    assert first.info.from_ == "tanaka@example.net"
    assert first.info.subject == "見積書"
    assert first.info.message_id is not None and "pst-1@example.net" in first.info.message_id
    assert first.info.received and "本文です" in first.text
    assert [p.filename for p in first.parts if p.filename] == ["見積書.zip"]
    second = parse_email(entries[1].data)
    assert second.info.subject == "draft without headers" and "plain body" in second.text
    third = parse_email(entries[2].data)
    assert any(p.content_type == "message/rfc822" for p in third.parts)


def test_resume_and_unreadable_file() -> None:
    done = {"pst:/x/a.pst|Top of Personal Folders/Inbox@2097188"}
    kinds = [
        e.kind for e in iter_pst("/x/a.pst", limit=1 << 20, want=lambda s: s not in done, opener=lambda _: _graph())
    ]
    assert kinds == ["done", "rfc822", "rfc822"]

    def broken(_: str) -> Any:
        raise OSError("unable to open file")

    entries = list(iter_pst("/x/b.pst", limit=1 << 20, want=want_all, opener=broken))
    assert len(entries) == 1 and entries[0].kind == "error" and "unparsable" in entries[0].error
