"""Fuzz the whole Engine.scan on raw message bytes (ingest, MIME, every unpacker and analyzer) under small limits.

Run: `.venv/bin/python tests/fuzz/fuzz_engine.py -max_total_time=60` (see tests/fuzz/README.md).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz import _harness

if __name__ == "__main__":
    _harness.main("engine")
