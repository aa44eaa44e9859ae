"""The record walk of an Excel (BIFF8) workbook's globals substream, for the Office unpacker (is the workbook
encrypted?) and the Office analyzer (does it list an Excel 4 macro sheet?). Bounded: a crafted stream of
zero-length records ends the walk after `_MAX_RECORDS`, and an unfinished walk answers "yes" (look closer)."""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["BOUNDSHEET", "EOF", "FILEPASS", "globals_has"]

FILEPASS = 0x002F  # the rest of the workbook is encrypted
BOUNDSHEET = 0x0085  # one sheet: its type is byte 5 of the body (0x01 = Excel 4 macro sheet)
EOF = 0x000A
_MAX_RECORDS = 200_000


def globals_has(stream: bytes, wanted: Callable[[int, bytes], bool]) -> bool:
    """Whether a record of the globals substream (up to its EOF) satisfies `wanted(record_id, body)`."""
    pos = 0
    for _ in range(_MAX_RECORDS):
        if pos + 4 > len(stream):
            return False
        rec_id, size = struct.unpack_from("<HH", stream, pos)
        if wanted(rec_id, stream[pos + 4 : pos + 4 + size]):
            return True
        if rec_id == EOF and pos > 0:
            return False
        pos += 4 + size
    return True
