"""The LocalCluster a sweep starts speaks TLS with throw-away credentials (security review, issue 8): Dask runs any
pickled task that reaches its scheduler, so a connection without our credentials must be refused."""

from __future__ import annotations

import pytest

from triage.batch.dask_engine import DaskRunner
from triage.batch.task import EngineSpec

distributed = pytest.importorskip("distributed")


def test_local_cluster_refuses_clients_without_its_credentials() -> None:
    with DaskRunner(EngineSpec(), scheduler=None, workers=1) as runner:
        address = runner.client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert runner.client.submit(sum, [1, 2]).result(timeout=60) == 3  # our own client works
        with pytest.raises((TypeError, OSError, TimeoutError)):
            outsider = distributed.Client(address, timeout=5)  # no certificate: not even a connection
            outsider.close()
