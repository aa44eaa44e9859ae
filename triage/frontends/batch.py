"""`triage batch` (sweep mailbox exports into a results database) and `triage rescore` (new weights on saved
findings). Adapts options to triage.batch and prints; nothing heavy is imported until a handler runs.

Exit codes of `triage batch`: 0 all clean · 3 something suspicious · 4 something malicious · 1 some messages
could not be scanned (and nothing worse) · 2 usage or configuration error · 130 interrupted (resume with
--resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SUSPICIOUS = 3
EXIT_MALICIOUS = 4
EXIT_INTERRUPTED = 130
_CAMPAIGNS_SHOWN = 20


def add_parser(subparsers: Any) -> None:
    batch = subparsers.add_parser(
        "batch",
        help="sweep mailbox exports (mbox, Maildir, MH, .msg, PST, directories, zips) into a results database",
        description="Scan every message of mailbox exports in parallel. Results go to DIR: results.sqlite, "
        "results.jsonl, summary.csv. After the sweep, encrypted archives are retried with passwords sent in "
        "later messages (PPAP), and campaigns are grouped.",
    )
    batch.add_argument("sources", nargs="+", metavar="SOURCE", help="mbox/PST/.msg/.eml/zip files or directories")
    batch.add_argument("--out", required=True, type=Path, metavar="DIR", help="results directory")
    batch.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core)")
    batch.add_argument("--resume", action="store_true", help="continue a sweep in DIR without rescanning")
    batch.add_argument("--engine", choices=("local", "dask"), default="local", help="where messages are scanned")
    batch.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (default: start a LocalCluster)")
    batch.add_argument("--config", type=Path, metavar="FILE", help="site configuration on top of the defaults")
    batch.add_argument("--password", action="append", default=[], metavar="PW", help="archive password to try")
    batch.add_argument("--chunk-size", type=int, default=16, metavar="N", help="messages per chunk of work")
    batch.add_argument("--ppap-window", type=float, default=24.0, metavar="HOURS", help="PPAP pairing window")
    batch.add_argument("--no-ppap", action="store_true", help="do not pair archives with later password mails")
    batch.add_argument(
        "--worker-memory", type=int, metavar="MB", help="address-space limit of each local worker process"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress display")
    batch.set_defaults(handler=run_batch)

    rescore = subparsers.add_parser(
        "rescore",
        help="recompute scores and verdicts of a sweep with other weights, without analysing again",
        description="Apply other weights to the findings saved by `triage batch`. FILE has the shape of "
        "rules/scoring.toml and is merged over the shipped table, so it may hold only the keys it changes "
        "(e.g. [symbols.LURE_THEME] weight = 3.0, or [verdict] suspicious = 3.0).",
    )
    rescore.add_argument("results", type=Path, metavar="RESULTS", help="a `triage batch` DIR or its results.sqlite")
    rescore.add_argument("--config", type=Path, metavar="FILE", help="scoring overrides (rules/scoring.toml shape)")
    rescore.set_defaults(handler=run_rescore)


def run_batch(args: argparse.Namespace) -> int:
    from rich.console import Console

    from triage.batch.progress import for_terminal
    from triage.batch.store import StoreExists
    from triage.batch.sweep import SweepOptions, run_sweep
    from triage.errors import ConfigError

    if args.scheduler and args.engine != "dask":
        print("triage batch: --scheduler needs --engine dask", file=sys.stderr)
        return EXIT_USAGE
    if args.jobs < 0 or args.chunk_size < 1 or args.ppap_window <= 0:
        print("triage batch: --jobs, --chunk-size and --ppap-window must be positive", file=sys.stderr)
        return EXIT_USAGE
    opts = SweepOptions(
        sources=tuple(args.sources),
        out=args.out,
        jobs=args.jobs,
        resume=args.resume,
        engine=args.engine,
        scheduler=args.scheduler,
        site_file=args.config,
        passwords=tuple(args.password),
        chunk_size=args.chunk_size,
        ppap=not args.no_ppap,
        ppap_window=args.ppap_window * 3600.0,
        worker_memory_mb=args.worker_memory,
    )
    try:
        summary = run_sweep(opts, for_terminal(args.quiet))
    except (ConfigError, StoreExists) as exc:
        print(f"triage batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"triage batch: interrupted; finished results are in {args.out}; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
    counts = ", ".join(f"{k}: {n}" for k, n in sorted(summary.counts.items()))
    console.print(f"[bold]sweep[/bold] {summary.scanned} messages scanned ({counts}); results in {summary.out}")
    for pair in summary.pairs:
        state = "opened" if pair.opened else "not opened"
        console.print(
            f"[bold]PPAP[/bold] {pair.archive_source} ← password from {pair.password_source}: {state}",
            markup=True,
        )
    if summary.campaigns:
        console.rule("campaigns")
        for c in summary.campaigns[:_CAMPAIGNS_SHOWN]:
            console.print(
                f"{c.worst:<10} {c.kind:<15} {len(c.messages):>5} messages {c.recipients:>5} recipients  {c.key[:80]}",
                markup=False,
            )
        if len(summary.campaigns) > _CAMPAIGNS_SHOWN:
            console.print(f"… {len(summary.campaigns) - _CAMPAIGNS_SHOWN} more in the campaigns table", markup=False)
    if summary.counts.get("malicious"):
        return EXIT_MALICIOUS
    if summary.counts.get("suspicious"):
        return EXIT_SUSPICIOUS
    return EXIT_ERROR if summary.errors else EXIT_CLEAN


def run_rescore(args: argparse.Namespace) -> int:
    from triage.batch.exports import write_exports
    from triage.batch.rescore import load_table, rescore_store
    from triage.batch.store import DB_NAME, ResultStore
    from triage.errors import ConfigError

    path: Path = args.results
    db = path / DB_NAME if path.is_dir() else path
    if not db.is_file():
        print(f"triage rescore: {db}: no results database", file=sys.stderr)
        return EXIT_USAGE
    try:
        table = load_table(args.config)
    except ConfigError as exc:
        print(f"triage rescore: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = ResultStore(db)
    try:
        summary = rescore_store(store, table)
        write_exports(store, db.parent)
    except ConfigError as exc:
        print(f"triage rescore: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.close()
    before = ", ".join(f"{k}: {n}" for k, n in sorted(summary.before.items()))
    after = ", ".join(f"{k}: {n}" for k, n in sorted(summary.after.items()))
    print(f"rescored {summary.messages} messages, {summary.changed} changed; before ({before}); after ({after})")
    return EXIT_CLEAN
