"""Native helpers, loaded with ctypes when `make` built them; every caller has a pure-Python path without them.

Only what no library offers and Python is too slow for: the iterated hash of Office encryption (`iterhash.c`, built
by the Makefile into `_iterhash.so` against the system's OpenSSL). A scan that tries a password on an encrypted
document pays 100,000 rounds of SHA-512 per guess (agile): ~0.12 s as a Python loop, ~0.04 s here; or 50,000 of
SHA-1 (standard, Office 2007): ~0.045 s against ~0.006 s.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBRARY = Path(__file__).with_name("_iterhash.so")
MAX_ROUNDS = 10_000_000  # iterhash.c refuses more; callers have their own, lower cap
DIGEST_SIZES = {"SHA1": 20, "SHA256": 32, "SHA384": 48, "SHA512": 64}


@functools.cache
def _iterate_function() -> Callable[[bytes, Any, int, int], int] | None:
    """The C function, or None when the library was not built (or cannot load here)."""
    try:
        library = ctypes.CDLL(str(LIBRARY))
        function = library.triage_iterate_hash
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
    function.restype = ctypes.c_int
    return function


def available() -> bool:
    return _iterate_function() is not None


def iterate_hash(digest: str, start: bytes, rounds: int) -> bytes | None:
    """H(n) = digest(le32(n - 1) + H(n - 1)) from H(0) = `start`, `rounds` times; None if the library is absent or
    the arguments are not one it takes (an unknown digest, `start` not a digest's length, too many rounds)."""
    function = _iterate_function()
    if function is None or DIGEST_SIZES.get(digest) != len(start) or not 0 <= rounds <= MAX_ROUNDS:
        return None
    buffer = ctypes.create_string_buffer(start, len(start))
    if function(digest.encode("ascii"), buffer, len(start), rounds) != 0:
        return None
    return buffer.raw
