"""The local pool's hard deadline and crash handling: a hung or dying worker costs one error record; the
other messages of its chunk are scanned by a replacement."""

from __future__ import annotations

from conftest import make_message

from batch._scanners import misbehaving
from triage.batch.pool import LocalPool
from triage.batch.task import CRASHED, TIMEOUT, EngineSpec, ScanResult, Task


def _task(seq: int, marker: str = "") -> Task:
    headers = [("X-Test", marker)] if marker else []
    raw = make_message(subject=f"m{seq}", headers=headers)
    return Task(seq=seq, source_id=f"t@{seq}", container="t", folder="", kind="rfc822", data=raw, size=len(raw))


def test_hang_and_crash_become_error_records_and_the_rest_is_scanned() -> None:
    pool = LocalPool(EngineSpec(), jobs=2, hard_seconds=3.0, factory=misbehaving)
    chunks = [[_task(0), _task(1, "hang"), _task(2), _task(3)], [_task(4), _task(5, "die"), _task(6)], [_task(7)]]
    results: list[ScanResult] = []
    stats = pool.run(chunks, results.append)
    by_seq = {r.seq: r for r in results}
    assert sorted(by_seq) == list(range(8)) and len(results) == 8
    assert by_seq[1].error_kind == TIMEOUT and by_seq[1].report is None
    assert by_seq[5].error_kind == CRASHED
    for seq in (0, 2, 3, 4, 6, 7):
        assert by_seq[seq].report is not None, by_seq[seq].error_detail
    assert stats.timeouts == 1 and stats.crashes == 1 and stats.respawns == 2


_SWEEP_OWNER = """
import sys
from conftest import make_message
from batch._scanners import misbehaving
from triage.batch.pool import LocalPool
from triage.batch.task import EngineSpec, Task

raw = make_message(subject="stuck", headers=[("X-Test", "hang")])
task = Task(seq=0, source_id="t@0", container="t", folder="", kind="rfc822", data=raw, size=len(raw))
print("scanning", flush=True)
LocalPool(EngineSpec(), jobs=1, hard_seconds=600.0, factory=misbehaving).run([[task]], lambda result: None)
"""


def test_sweep_workers_do_not_outlive_a_killed_sweep() -> None:
    """SIGKILL of `triage batch` (the OOM killer's way): its worker, stuck in a scan, goes too."""
    import os
    from pathlib import Path

    from gateway._postfix import survivors_of_killed_owner

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "tests"), str(root)])}
    # the fork server and its worker
    assert not survivors_of_killed_owner(_SWEEP_OWNER, cwd=root, env=env, min_family=2), "workers outlived the sweep"
