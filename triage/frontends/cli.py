"""`triage` on the command line. Adapts files and stdin to `Engine.scan` and renders its Reports; no detection.

Exit codes of `triage scan` (worst over all messages scanned):
  0 clean · 3 suspicious · 4 malicious · 1 an input could not be scanned (and nothing worse was found) · 2 usage
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from triage import __version__
from triage.errors import ConfigError
from triage.model import Level, Report

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SUSPICIOUS = 3
EXIT_MALICIOUS = 4
_EXIT_BY_LEVEL = {Level.CLEAN: EXIT_CLEAN, Level.SUSPICIOUS: EXIT_SUSPICIOUS, Level.MALICIOUS: EXIT_MALICIOUS}

# Subcommands that live in their own front-end modules. Each module has `add_parser(subparsers)`, which registers
# its subcommand with `set_defaults(handler=run)`, and `run(args) -> int`; it imports nothing heavy at the top.
_SUBCOMMAND_MODULES: tuple[str, ...] = ("triage.frontends.milter", "triage.frontends.filter", "triage.frontends.batch")

_EPILOG = """\
exit status (worst over all messages):
  0  clean
  3  suspicious
  4  malicious
  1  an input could not be read or scanned, and nothing suspicious was found
  2  usage error (bad option, bad configuration file)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Decide whether an email is a targeted attack (標的型メール攻撃), and show why.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"triage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    scan = sub.add_parser(
        "scan",
        help="scan .eml files, directories of messages, or - for stdin",
        description="Scan messages and report findings, evidence and a verdict. A forwarded message is "
        "unwrapped and the original is analysed.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="a message file, a directory, or - (stdin)")
    scan.add_argument(
        "--json", action="store_true", help="JSON report (one document; JSON Lines when several messages)"
    )
    scan.add_argument(
        "--password",
        action="append",
        default=[],
        metavar="PW",
        help="an archive password to try first (repeatable)",
    )
    scan.add_argument("--config", type=Path, metavar="FILE", help="site configuration on top of the defaults")
    scan.add_argument(
        "--rules",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="a folder of YARA rules (*.yar, *.yara; meta id, severity, description) to add (repeatable)",
    )
    scan.add_argument("--brief", action="store_true", help="one line per message instead of the full report")
    scan.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour in the text report")
    for module in _SUBCOMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def _scan(args: argparse.Namespace) -> int:
    # Imported here so `triage --help` stays fast.
    from rich.console import Console

    from triage.config import load_config
    from triage.engine import Engine
    from triage.report.json import render_json
    from triage.report.text import print_reports, print_summary
    from triage.sources.msg import MsgError, NotMail, is_ole, msg_to_rfc822
    from triage.sources.paths import iter_sources, read_source

    try:
        config = load_config(args.config, passwords=tuple(args.password), yara_rules=tuple(args.rules))
        engine = Engine(config)
    except ConfigError as exc:
        print(f"triage: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def looks_like_message(head: bytes, name: str) -> bool:
        return "email" in engine.filetyper.tags(head, name)

    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    console = Console(
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        width=None if sys.stdout.isatty() else 110,
    )
    limit = config.limits.max_message_size
    worst = EXIT_CLEAN
    errors = 0
    scanned = 0
    summary: list[Report] = []
    for source in iter_sources(args.paths, looks_like_message):
        try:
            if source.size is not None and source.size > limit:
                raise ValueError(f"larger than max_message_size ({source.size} > {limit} bytes); not scanned")
            raw = read_source(source, limit)
            if len(raw) > limit:
                raise ValueError(f"larger than max_message_size ({limit} bytes); not scanned")
            if is_ole(raw):  # an Outlook .msg: scanned as the RFC 822 message it holds
                raw = msg_to_rfc822(raw, limit=limit)
        except (OSError, ValueError, NotMail, MsgError) as exc:
            print(f"triage: {source.name}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            errors += 1
            continue
        report: Report = engine.scan(raw, name=source.name)
        scanned += 1
        if args.json:
            sys.stdout.write(render_json(report) + "\n")
        elif args.brief:
            print_summary(console, [report])
        else:
            if scanned > 1:
                console.rule()
            print_reports(console, [report], config.scoring)
            summary.append(report)
        worst = max(worst, _EXIT_BY_LEVEL[report.verdict.level])
        sys.stdout.flush()
    if len(summary) > 1:
        console.rule("summary")
        print_summary(console, summary)
    if scanned == 0 and errors == 0:
        print("triage: no messages found", file=sys.stderr)
        return EXIT_ERROR
    if errors and worst == EXIT_CLEAN:
        return EXIT_ERROR
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "scan":
        try:
            return _scan(args)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (| head): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_CLEAN
    handler = getattr(args, "handler", None)
    if handler is not None:
        try:
            return int(handler(args))
        except KeyboardInterrupt:
            return 130
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
