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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.report.i18n import Messages

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SUSPICIOUS = 3
EXIT_MALICIOUS = 4
EXIT_INTERRUPTED = 130
_CAMPAIGNS_SHOWN = 20


def add_parser(subparsers: Any, messages: Messages | None = None) -> None:
    from triage.report.i18n import SUPPORTED_LANGS, load_messages
    from triage.report.tlp import DEFAULT_TLP, TLP_LEVELS

    m = messages if messages is not None else load_messages("en")
    batch = subparsers.add_parser("batch", help=m.t("cli.batch_help"), description=m.t("cli.batch_description"))
    batch.add_argument("sources", nargs="+", metavar="SOURCE", help=m.t("cli.batch_sources"))
    batch.add_argument("--out", required=True, type=Path, metavar="DIR", help=m.t("cli.batch_out"))
    batch.add_argument("--jobs", type=int, default=0, metavar="N", help=m.t("cli.batch_jobs"))
    batch.add_argument("--resume", action="store_true", help=m.t("cli.batch_resume"))
    batch.add_argument("--engine", choices=("local", "dask"), default="local", help=m.t("cli.batch_engine"))
    batch.add_argument("--scheduler", metavar="ADDR", help=m.t("cli.batch_scheduler"))
    batch.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.config"))
    batch.add_argument("--password", action="append", default=[], metavar="PW", help=m.t("cli.batch_password"))
    batch.add_argument("--chunk-size", type=int, default=16, metavar="N", help=m.t("cli.batch_chunk_size"))
    batch.add_argument("--ppap-window", type=float, default=24.0, metavar="HOURS", help=m.t("cli.batch_ppap_window"))
    batch.add_argument("--no-ppap", action="store_true", help=m.t("cli.batch_no_ppap"))
    batch.add_argument("--worker-memory", type=int, metavar="MB", help=m.t("cli.batch_worker_memory"))
    batch.add_argument("--quiet", action="store_true", help=m.t("cli.batch_quiet"))
    batch.add_argument("--stix", type=Path, metavar="FILE", help=m.t("cli.batch_stix"))
    batch.add_argument("--misp", type=Path, metavar="FILE", help=m.t("cli.batch_misp"))
    batch.add_argument("--tlp", choices=TLP_LEVELS, default=DEFAULT_TLP, help=m.t("cli.scan_tlp"))
    batch.add_argument("--lang", choices=SUPPORTED_LANGS, default=None, help=m.t("cli.lang"))
    batch.set_defaults(handler=run_batch)

    rescore = subparsers.add_parser("rescore", help=m.t("cli.rescore_help"), description=m.t("cli.rescore_description"))
    rescore.add_argument("results", type=Path, metavar="RESULTS", help=m.t("cli.rescore_results"))
    rescore.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.rescore_config"))
    rescore.add_argument("--lang", choices=SUPPORTED_LANGS, default=None, help=m.t("cli.lang"))
    rescore.set_defaults(handler=run_rescore)


def _words(args: argparse.Namespace) -> Messages | None:
    """The language of what the command prints; None (after saying why) when TRIAGE_LANG names one we lack."""
    from triage.errors import ConfigError
    from triage.report.i18n import load_messages, resolve_lang

    try:
        return load_messages(resolve_lang(getattr(args, "lang", None)))
    except (ValueError, ConfigError) as exc:
        print(f"triage {args.command}: {exc}", file=sys.stderr)
        return None


def _counts(counts: dict[str, int], m: Messages) -> str:
    # verdict words in the analyst's language; error kinds are ids and stay as they are
    return ", ".join(f"{m.t(f'verdict.{k}') if f'verdict.{k}' in m.ui else k}: {n}" for k, n in sorted(counts.items()))


def run_batch(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from triage.batch.progress import for_terminal
    from triage.batch.store import StoreExists
    from triage.batch.sweep import SweepOptions, run_sweep
    from triage.errors import ConfigError
    from triage.report.i18n import cell_width

    if args.scheduler and args.engine != "dask":
        print("triage batch: --scheduler needs --engine dask", file=sys.stderr)
        return EXIT_USAGE
    if args.jobs < 0 or args.chunk_size < 1 or args.ppap_window <= 0:
        print("triage batch: --jobs, --chunk-size and --ppap-window must be positive", file=sys.stderr)
        return EXIT_USAGE
    m = _words(args)
    if m is None:
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
    from triage.config import load_config

    _write_report_html(summary.out, load_config(args.config).scoring, args)
    shared = _write_sharing(summary.out, args)
    console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
    # Text, not markup: source names come from the mailbox export
    swept = m.t("cli.batch_swept", scanned=summary.scanned, counts=_counts(summary.counts, m), out=summary.out)
    console.print(Text(m.t("cli.batch_sweep"), style="bold") + Text(swept))
    for pair in summary.pairs:
        state = m.t("cli.batch_opened" if pair.opened else "cli.batch_not_opened")
        line = m.t("cli.batch_ppap", archive=pair.archive_source, source=pair.password_source, state=state)
        console.print(Text("PPAP", style="bold") + Text(line))
    if summary.campaigns:
        console.rule(m.t("cli.batch_campaigns"))
        for c in summary.campaigns[:_CAMPAIGNS_SHOWN]:
            worst = m.t(f"verdict.{c.worst}") if f"verdict.{c.worst}" in m.ui else c.worst
            fields = {"kind": f"{c.kind:<15}", "messages": f"{len(c.messages):>5}", "recipients": f"{c.recipients:>5}"}
            worst += " " * max(0, 10 - cell_width(worst))
            console.print(Text(m.t("cli.batch_campaign_line", worst=worst, key=c.key[:80], **fields)))
        if len(summary.campaigns) > _CAMPAIGNS_SHOWN:
            console.print(Text(m.t("cli.batch_more_campaigns", count=len(summary.campaigns) - _CAMPAIGNS_SHOWN)))
    if summary.counts.get("malicious"):
        return EXIT_MALICIOUS
    if summary.counts.get("suspicious"):
        return EXIT_SUSPICIOUS
    return EXIT_ERROR if summary.errors or not shared else EXIT_CLEAN


def _write_sharing(out: Path, args: argparse.Namespace) -> bool:
    """--stix FILE (one bundle) and --misp FILE (JSON Lines, one event a message) from the results database, for the
    suspicious and malicious messages only: clean mail is nobody's indicator, and sharing it leaks the victims'.
    Reports stream from the database to the files; a sweep's worth never sits in memory."""
    if args.stix is None and args.misp is None:
        return True
    from collections.abc import Iterator

    from triage.batch.store import DB_NAME, ResultStore
    from triage.model import Level, Report

    store = ResultStore(out / DB_NAME)

    def hostile() -> Iterator[Report]:
        return (r for _, _, r in store.reports() if r.verdict.level is not Level.CLEAN)

    try:
        if args.stix is not None:
            from triage.report.stix import write_stix

            with args.stix.open("w", encoding="utf-8") as fh:
                write_stix(hostile(), fh, tlp=args.tlp)
                fh.write("\n")
        if args.misp is not None:
            from triage.report.misp import render_misp_json

            with args.misp.open("w", encoding="utf-8") as fh:
                for report in hostile():
                    fh.write(render_misp_json(report, tlp=args.tlp) + "\n")
    except OSError as exc:
        print(f"triage batch: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return False
    finally:
        store.close()
    return True


def _write_report_html(out: Path, scoring: Any, args: argparse.Namespace) -> None:
    """DIR/report.html from the results database, in the --lang language; a failure here only warns."""
    from triage.config import rules_dir
    from triage.errors import ConfigError
    from triage.report.html_sweep import write_sweep_html
    from triage.report.i18n import load_messages, resolve_lang

    try:
        words = load_messages(resolve_lang(getattr(args, "lang", None)), scoring, rules_dir())
        write_sweep_html(out, words, scoring)
    except (OSError, ValueError, ConfigError) as exc:
        print(f"triage: report.html not written: {exc}", file=sys.stderr)


def run_rescore(args: argparse.Namespace) -> int:
    from triage.batch.exports import write_exports
    from triage.batch.rescore import load_table, rescore_store
    from triage.batch.store import DB_NAME, ResultStore
    from triage.errors import ConfigError

    m = _words(args)
    if m is None:
        return EXIT_USAGE
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
        _write_report_html(db.parent, table, args)
    except ConfigError as exc:
        print(f"triage rescore: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        store.close()
    before, after = _counts(summary.before, m), _counts(summary.after, m)
    print(m.t("cli.rescore_done", messages=summary.messages, changed=summary.changed, before=before, after=after))
    return EXIT_CLEAN
