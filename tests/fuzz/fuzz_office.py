"""Fuzz the Office unpacker (OLE streams, OOXML parts, OLE Package objects, encrypted documents).

Run: `.venv/bin/python tests/fuzz/fuzz_office.py -max_total_time=60` (see tests/fuzz/README.md).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import _harness

if __name__ == "__main__":
    _harness.main("office")
