"""The Dask engine on a LocalCluster bound to loopback (2 worker processes): the same reports as the local
engine, also when a worker is killed in the middle of the sweep."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from batch.conftest import build_export
from triage.batch.progress import NoProgress
from triage.batch.store import DB_NAME, ResultStore
from triage.batch.sweep import SweepOptions, run_sweep

distributed = pytest.importorskip("distributed")


def _reports(out: Path) -> dict[str, dict[str, Any]]:
    store = ResultStore(out / DB_NAME)
    try:
        docs = {}
        for _, sid, report in store.reports():
            doc = report.to_dict()
            doc.pop("timings")
            docs[sid] = doc
        return docs
    finally:
        store.close()


def _errors(out: Path) -> list[tuple[str, str]]:
    store = ResultStore(out / DB_NAME)
    try:
        return list(store.db.execute("SELECT error_kind, error_detail FROM messages WHERE status = 'error'"))
    finally:
        store.close()


class _KillOneWorker(NoProgress):
    """Kills a Dask worker process after the first result, while the rest of the sweep is still queued."""

    def __init__(self, cluster: Any) -> None:
        super().__init__()
        self.cluster = cluster
        self.killed = False

    def advance(self, outcome: str, size: int) -> None:
        super().advance(outcome, size)
        if not self.killed:
            nanny = next(iter(self.cluster.workers.values()))
            os.kill(nanny.process.pid, signal.SIGKILL)  # the worker process; its nanny starts a new one
            self.killed = True


def test_dask_matches_local_even_after_a_worker_dies(tmp_path: Path) -> None:
    build_export(tmp_path / "export", n_mbox=24)
    sources = (str(tmp_path / "export"),)
    local = run_sweep(SweepOptions(sources=sources, out=tmp_path / "local", jobs=2, chunk_size=2))
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        progress = _KillOneWorker(cluster)
        remote = run_sweep(
            SweepOptions(
                sources=sources,
                out=tmp_path / "dask",
                jobs=2,
                chunk_size=2,
                engine="dask",
                scheduler=cluster.scheduler_address,
            ),
            progress,
        )
        assert progress.killed
    finally:
        cluster.close()
    assert remote.errors == 0, _errors(tmp_path / "dask")
    assert remote.counts == local.counts
    assert _reports(tmp_path / "dask") == _reports(tmp_path / "local")
