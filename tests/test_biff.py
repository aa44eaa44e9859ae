"""globals_has: the BIFF globals-substream walk shared by the Office unpacker and analyzer."""

from __future__ import annotations

import struct

from triage.biff import BOUNDSHEET, EOF, FILEPASS, globals_has

_BOF = 0x0809


def record(rec_id: int, body: bytes = b"") -> bytes:
    return struct.pack("<HH", rec_id, len(body)) + body


def is_filepass(rec_id: int, _: bytes) -> bool:
    return rec_id == FILEPASS


def test_finds_a_record_before_the_globals_eof() -> None:
    assert globals_has(record(_BOF, bytes(16)) + record(FILEPASS, bytes(6)) + record(EOF), is_filepass)


def test_stops_at_the_globals_eof() -> None:
    # a FILEPASS after the globals' EOF belongs to a sheet substream: not the workbook's encryption
    assert not globals_has(record(_BOF, bytes(16)) + record(EOF) + record(FILEPASS), is_filepass)


def test_a_truncated_stream_has_nothing() -> None:
    assert not globals_has(record(_BOF, bytes(16))[:-3], is_filepass)
    assert not globals_has(b"", is_filepass)


def test_the_body_is_handed_over() -> None:
    macro_sheet = record(BOUNDSHEET, struct.pack("<IBB", 0, 0, 1) + b"\x05Macro")
    assert globals_has(record(_BOF, bytes(16)) + macro_sheet + record(EOF), lambda r, b: r == BOUNDSHEET and b[5] == 1)


def test_an_endless_run_of_empty_records_is_cut_short_and_answers_yes() -> None:
    assert globals_has(record(0x00FC) * 250_000, is_filepass)
