"""The Dask engine of a sweep: the same chunks and the same worker code (`work.Scanner`) on a Dask distributed
cluster — an existing one (`--scheduler ADDR`) or a LocalCluster started here. Dask is imported lazily.

Each Dask worker process builds its Engine once (a per-process memo keyed by the engine recipe). A worker that
dies mid-chunk is Dask's to handle: the scheduler reruns the chunk elsewhere (results are identical because a
scan is a pure function of the bytes and the configuration); a chunk that keeps killing workers ends as
`crashed` error records. Dask cannot stop a running task, so the per-message deadline here is the engine's
cooperative one; the local engine adds a hard one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from triage.batch.task import CRASHED, EngineSpec, ScanResult, Task, error_result


@lru_cache(maxsize=2)
def _scanner(spec: EngineSpec) -> Any:
    from triage.batch.work import Scanner

    return Scanner(spec)


def scan_chunk(spec: EngineSpec, tasks: list[Task]) -> list[ScanResult]:
    """Runs on a Dask worker."""
    scanner = _scanner(spec)
    return [scanner.run(task) for task in tasks]


class DaskRunner:
    def __init__(self, spec: EngineSpec, *, scheduler: str | None, workers: int, in_flight: int | None = None) -> None:
        self.spec = spec
        self.scheduler = scheduler
        self.workers = max(1, workers)
        self.in_flight = in_flight or 4 * self.workers
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskRunner:
        from distributed import Client, LocalCluster

        if self.scheduler:
            self._client = Client(self.scheduler)  # type: ignore[no-untyped-call]
        else:
            self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # Dask runs whatever pickled task reaches its scheduler: TLS with throw-away certificates keeps
                # other local users' connections out of our cluster (and our messages)
                security=True,
            )
            self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    @property
    def client(self) -> Any:
        return self._client

    def run(self, chunks: Iterable[list[Task]], emit: Callable[[ScanResult], None]) -> None:
        from distributed import as_completed

        if self._client is None:
            raise RuntimeError("DaskRunner is used as a context manager")
        source: Iterator[list[Task]] = iter(chunks)
        pending: dict[Any, list[Task]] = {}

        def submit() -> Any:
            chunk = next(source, None)
            if chunk is None:
                return None
            future = self._client.submit(scan_chunk, self.spec, chunk, pure=False)
            pending[future] = chunk
            return future

        first = [f for f in (submit() for _ in range(self.in_flight)) if f is not None]
        if not first:
            return
        stream = as_completed(first)  # type: ignore[no-untyped-call]
        for future in stream:
            chunk = pending.pop(future)
            try:
                results = future.result()
            except Exception as exc:  # KilledWorker after repeated deaths, or a lost connection: the chunk fails
                results = [error_result(t, CRASHED, f"dask: {type(exc).__name__}: {exc}"[:500]) for t in chunk]
            for result in results:
                emit(result)
            nxt = submit()
            if nxt is not None:
                stream.add(nxt)  # type: ignore[no-untyped-call]
