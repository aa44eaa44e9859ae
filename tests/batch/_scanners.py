"""Scanner factories for pool tests, importable by worker processes: one that hangs and one that dies on
marked messages, and scans everything else with the real engine."""

from __future__ import annotations

import os
import time

from triage.batch.pool import TaskScanner
from triage.batch.task import EngineSpec, ScanResult, Task
from triage.batch.work import Scanner


class _Misbehaving:
    def __init__(self, spec: EngineSpec) -> None:
        self.inner = Scanner(spec)

    def run(self, task: Task) -> ScanResult:
        if b"X-Test: hang" in task.data:
            time.sleep(3600)
        if b"X-Test: die" in task.data:
            os._exit(3)
        return self.inner.run(task)


def misbehaving(spec: EngineSpec) -> TaskScanner:
    return _Misbehaving(spec)
