"""One sweep, start to finish: sources → chunks → an engine (local pool or Dask) → the results database, then
PPAP pairing, campaigns, and the flat exports. The front end only parses options and prints.

Resuming: every message id already in the database is skipped at the source (`want`), so nothing is scanned
twice; messages in flight when a sweep was interrupted were never written, and are scanned on resume.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.batch.campaigns import Campaign, build_campaigns
from triage.batch.exports import write_exports
from triage.batch.pool import LocalPool, ScannerFactory, default_factory
from triage.batch.ppap import DEFAULT_WINDOW, PairOutcome, run_ppap
from triage.batch.progress import NoProgress, Progress
from triage.batch.store import ResultStore
from triage.batch.task import EngineSpec, ScanResult, Task
from triage.engine import MESSAGE_GRACE_SECONDS
from triage.filetype import FileTyper
from triage.sources.entry import MailEntry
from triage.sources.pst import Opener, open_pst
from triage.sources.walk import iter_mail, total_bytes

_HARD_SLACK = 15.0  # seconds beyond the engine's own deadline before a worker is killed


@dataclass(frozen=True)
class SweepOptions:
    sources: tuple[str, ...]
    out: Path
    jobs: int = 0  # 0: one per core
    resume: bool = False
    engine: str = "local"  # local | dask
    scheduler: str | None = None
    site_file: Path | None = None
    passwords: tuple[str, ...] = ()
    chunk_size: int = 16
    chunk_bytes: int = 8 * 1024 * 1024
    ppap: bool = True
    ppap_window: float = DEFAULT_WINDOW
    hard_seconds: float | None = None  # default: the engine's max_seconds + grace + slack
    worker_memory_mb: int | None = None  # address-space limit of each local worker (RLIMIT_AS)
    factory: ScannerFactory = default_factory  # tests substitute a scanner that hangs or crashes
    pst_opener: Opener = open_pst  # tests substitute a pypff-shaped object graph


@dataclass(frozen=True)
class SweepSummary:
    out: Path
    scanned: int
    skipped: int
    errors: int
    counts: dict[str, int]
    pairs: tuple[PairOutcome, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    interrupted: bool = False
    stats: dict[str, int] = field(default_factory=dict)


def run_sweep(opts: SweepOptions, progress: Progress | None = None) -> SweepSummary:
    """Raises ConfigError (bad configuration), StoreExists (results exist without --resume), KeyboardInterrupt
    (after saving everything finished so far)."""
    progress = progress or NoProgress()
    spec = EngineSpec.from_site_file(opts.site_file, opts.passwords)
    config = spec.config()  # validates before any worker starts
    jobs = opts.jobs or os.cpu_count() or 1
    hard = opts.hard_seconds or config.limits.max_seconds + MESSAGE_GRACE_SECONDS + _HARD_SLACK
    store = ResultStore.open(opts.out, resume=opts.resume)
    counts: dict[str, int] = {}
    try:
        done = store.done_ids()
        typer = FileTyper()

        def looks_like_email(head: bytes, name: str) -> bool:
            return "email" in typer.tags(head, name)

        entries = iter_mail(
            opts.sources,
            limit=config.limits.max_message_size,
            want=lambda sid: sid not in done,
            looks_like_email=looks_like_email,
            pst_opener=opts.pst_opener,
        )

        def record(result: ScanResult) -> None:
            store.add(result)
            if result.raw:
                store.keep_raw(result.source_id, result.raw)
            outcome = result.report.verdict.level.value if result.report is not None else result.error_kind
            counts[outcome] = counts.get(outcome, 0) + 1
            progress.advance(outcome, result.size)

        progress.start(total_bytes(opts.sources))
        runner_cm = _runner(opts, spec, jobs, hard)
        with runner_cm as runner:
            try:
                runner.run(_chunks(entries, opts, store, counts, progress), record)
            finally:
                store.flush()
                progress.stop()
            pairs = run_ppap(store, runner, config.scoring, window=opts.ppap_window) if opts.ppap else []
        for pair in pairs:
            if pair.verdict_before != pair.verdict_after and counts.get(pair.verdict_before):
                counts[pair.verdict_before] -= 1
                counts[pair.verdict_after] = counts.get(pair.verdict_after, 0) + 1
        campaigns = build_campaigns(store, config.rules_path("lists/freemail.txt"))
        write_exports(store, opts.out)
        stats = getattr(runner, "stats", None)
        return SweepSummary(
            out=opts.out,
            scanned=sum(n for k, n in counts.items() if k not in ("done",)),
            skipped=counts.get("done", 0),
            errors=sum(n for k, n in counts.items() if k not in ("done", "clean", "suspicious", "malicious")),
            counts=dict(counts),
            pairs=tuple(pairs),
            campaigns=tuple(campaigns),
            stats=dict(vars(stats)) if stats is not None else {},
        )
    except KeyboardInterrupt:
        store.flush()
        write_exports(store, opts.out)
        raise
    finally:
        store.close()


def _runner(opts: SweepOptions, spec: EngineSpec, jobs: int, hard: float) -> AbstractContextManager[Any]:
    if opts.engine == "dask":
        from triage.batch.dask_engine import DaskRunner

        return DaskRunner(spec, scheduler=opts.scheduler, workers=jobs)
    pool = LocalPool(spec, jobs=jobs, hard_seconds=hard, factory=opts.factory, memory_mb=opts.worker_memory_mb)
    return nullcontext(pool)


def _chunks(
    entries: Iterator[MailEntry],
    opts: SweepOptions,
    store: ResultStore,
    counts: dict[str, int],
    progress: Progress,
) -> Iterator[list[Task]]:
    chunk: list[Task] = []
    size = 0
    for seq, entry in enumerate(entries):
        if entry.kind == "done":
            counts["done"] = counts.get("done", 0) + 1
            progress.advance("done", entry.size)
            continue
        if entry.kind == "error":
            kind, _, detail = entry.error.partition(": ")
            store.add(
                ScanResult(
                    seq=seq,
                    source_id=entry.source_id,
                    container=entry.container,
                    folder=entry.folder,
                    size=entry.size,
                    report=None,
                    error_kind=kind,
                    error_detail=detail or entry.error,
                )
            )
            counts[kind] = counts.get(kind, 0) + 1
            progress.advance(kind, entry.size)
            continue
        chunk.append(
            Task(
                seq=seq,
                source_id=entry.source_id,
                container=entry.container,
                folder=entry.folder,
                kind=entry.kind,
                data=entry.data,
                size=entry.size,
            )
        )
        size += len(entry.data)
        if len(chunk) >= opts.chunk_size or size >= opts.chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
