"""Fuzz the OneNote embedded-file unpacker.

Run: `.venv/bin/python tests/fuzz/fuzz_onenote.py -max_total_time=60` (see tests/fuzz/README.md).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import _harness

if __name__ == "__main__":
    _harness.main("onenote")
