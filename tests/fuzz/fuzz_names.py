"""Fuzz the filename code: display_name (bidi), escape_controls, extensions, padding, the filename analyzer.

Run: `.venv/bin/python tests/fuzz/fuzz_names.py -max_total_time=60` (see tests/fuzz/README.md).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import _harness

if __name__ == "__main__":
    _harness.main("names")
