"""`triage` on the command line. Adapts files and stdin to `Engine.scan` and renders its Reports; no detection.

Exit codes of `triage scan` (worst over all messages scanned):
  0 clean · 3 suspicious · 4 malicious · 1 an input could not be scanned (and nothing worse was found) · 2 usage
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from triage import __version__
from triage.errors import ConfigError
from triage.model import Level, Report
from triage.report.i18n import SUPPORTED_LANGS, Messages, cell_width, load_messages, peek_lang, wrap_cells
from triage.report.tlp import DEFAULT_TLP, TLP_LEVELS

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SUSPICIOUS = 3
EXIT_MALICIOUS = 4
_EXIT_BY_LEVEL = {Level.CLEAN: EXIT_CLEAN, Level.SUSPICIOUS: EXIT_SUSPICIOUS, Level.MALICIOUS: EXIT_MALICIOUS}

# Subcommands that live in their own front-end modules. Each module has `add_parser(subparsers)`, which registers
# its subcommand with `set_defaults(handler=run)`, and `run(args) -> int`; it imports nothing heavy at the top.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "triage.frontends.milter",
    "triage.frontends.filter",
    "triage.frontends.batch",
    "triage.frontends.extract",
)


class _CellFormatter(argparse.HelpFormatter):
    """Wraps help by terminal columns, breaking between kanji: textwrap counts characters and breaks at spaces."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return super()._split_lines(text, width) if text.isascii() else wrap_cells(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.isascii():
            return super()._fill_text(text, width, indent)
        return "\n".join(indent + line for line in wrap_cells(text, width - len(indent)))


class _RawCellFormatter(argparse.RawDescriptionHelpFormatter, _CellFormatter):
    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.isascii():
            return super()._fill_text(text, width, indent)
        lines: list[str] = []
        for line in text.splitlines():  # each line as written, folded only where it is too wide
            lead = indent + line[: len(line) - len(line.lstrip())]
            if cell_width(indent + line) <= width:
                lines.append(indent + line)
            else:
                lines.extend(lead + part for part in wrap_cells(line, width - len(lead)))
        return "\n".join(lines)


_CELL_FORMATTERS: dict[type, type] = {
    argparse.HelpFormatter: _CellFormatter,
    argparse.RawDescriptionHelpFormatter: _RawCellFormatter,
}


class _Parser(argparse.ArgumentParser):
    """argparse speaking the analyst's language: its own words (usage:, options, -h, error:) come from `Messages`,
    since the standard library ships no Japanese catalogue for them. Subcommand parsers are built with it too."""

    def __init__(self, *args: Any, messages: Messages, **kwargs: Any) -> None:
        kwargs["add_help"] = False
        formatter = kwargs.get("formatter_class", argparse.HelpFormatter)
        kwargs["formatter_class"] = _CELL_FORMATTERS.get(formatter, formatter)
        super().__init__(*args, **kwargs)
        self.messages = messages
        self._positionals.title = messages.t("cli.positionals")
        self._optionals.title = messages.t("cli.options")
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help=messages.t("cli.help"))

    def _usage(self) -> argparse.HelpFormatter:
        formatter = self._get_formatter()
        prefix = self.messages.t("cli.usage")
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups, prefix)
        return formatter

    def format_usage(self) -> str:
        return self._usage().format_help()

    def format_help(self) -> str:  # argparse's own, with our usage prefix
        formatter = self._usage()
        formatter.add_text(self.description)
        for group in self._action_groups:
            formatter.start_section(group.title)
            formatter.add_text(group.description)
            formatter.add_arguments(group._group_actions)
            formatter.end_section()
        formatter.add_text(self.epilog)
        return formatter.format_help()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, self.messages.t("cli.error", prog=self.prog, message=message))


def add_lang_option(parser: argparse.ArgumentParser, messages: Messages) -> None:
    """`--lang` for a subcommand with human output; without it TRIAGE_LANG and the locale decide."""
    parser.add_argument("--lang", choices=SUPPORTED_LANGS, default=None, help=messages.t("cli.lang"))


def _ui_messages(argv: Sequence[str]) -> Messages:
    """The words of --help and of our messages, chosen before parsing (`--lang` in argv, else the environment)."""
    try:
        return load_messages(peek_lang(argv))
    except ConfigError:
        return load_messages("en")


def _parser(messages: Messages | None = None) -> argparse.ArgumentParser:
    m = messages if messages is not None else load_messages("en")
    parser = _Parser(
        prog="triage",
        description=m.t("cli.description"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        messages=m,
    )
    parser.add_argument("--version", action="version", version=f"triage {__version__}", help=m.t("cli.version"))
    # every subcommand parser speaks the same language (argparse calls parser_class(**kwargs))
    sub_class = cast("type[_Parser]", functools.partial(_Parser, messages=m))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=sub_class)
    scan = sub.add_parser(
        "scan",
        help=m.t("cli.scan_help"),
        description=m.t("cli.scan_description"),
        epilog=m.t("cli.scan_epilog"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help=m.t("cli.scan_paths"))
    output = scan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help=m.t("cli.scan_json"))
    output.add_argument("--format", choices=("text", "json", "stix", "misp"), help=m.t("cli.scan_format"))
    scan.add_argument("--tlp", choices=TLP_LEVELS, default=DEFAULT_TLP, help=m.t("cli.scan_tlp"))
    scan.add_argument("--password", action="append", default=[], metavar="PW", help=m.t("cli.scan_password"))
    scan.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.config"))
    scan.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR", help=m.t("cli.scan_rules"))
    scan.add_argument("--brief", action="store_true", help=m.t("cli.scan_brief"))
    scan.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=m.t("cli.scan_color"))
    add_lang_option(scan, m)
    scan.add_argument("--html", type=Path, metavar="FILE", help=m.t("cli.scan_html"))
    for module in _SUBCOMMAND_MODULES:
        add_parser = importlib.import_module(module).add_parser
        if "messages" in inspect.signature(add_parser).parameters:
            add_parser(sub, messages=m)
        else:
            add_parser(sub)
    return parser


def _scan(args: argparse.Namespace, ui: Messages) -> int:
    # Imported here so `triage --help` stays fast.
    from rich.console import Console

    from triage.config import load_config
    from triage.engine import Engine
    from triage.report.i18n import resolve_lang
    from triage.report.json import render_json
    from triage.report.text import print_reports, print_summary
    from triage.sources.msg import MsgError, NotMail, as_message
    from triage.sources.paths import iter_sources, read_source

    try:
        config = load_config(args.config, passwords=tuple(args.password), yara_rules=tuple(args.rules))
        engine = Engine(config)
    except ConfigError as exc:
        print(ui.t("cli.config_error", error=exc), file=sys.stderr)
        return EXIT_USAGE
    try:  # before scanning, so a bad TRIAGE_LANG fails fast
        words = load_messages(resolve_lang(args.lang), config.scoring, config.rules)
    except (ValueError, ConfigError) as exc:
        print(ui.t("cli.bad_lang", error=exc), file=sys.stderr)
        return EXIT_USAGE
    html_words = words if args.html is not None else None
    html_reports: list[Report] = []
    fmt = "json" if args.json else (args.format or "text")
    stix_reports: list[Report] = []  # one bundle for all messages, written at the end

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
            raw = as_message(read_source(source, limit), limit=limit)
        except (OSError, ValueError, NotMail, MsgError) as exc:
            print(f"triage: {source.name}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            errors += 1
            continue
        try:
            report: Report = engine.scan(raw, name=source.name)
        except ConfigError as exc:  # a plugin's rules file, read when the first message needs the plugin
            print(f"triage: configuration error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        scanned += 1
        if html_words is not None:
            html_reports.append(report)
        if fmt == "json":
            sys.stdout.write(render_json(report) + "\n")
        elif fmt == "misp":
            from triage.report.misp import render_misp_json

            sys.stdout.write(render_misp_json(report, tlp=args.tlp) + "\n")
        elif fmt == "stix":
            stix_reports.append(report)
        elif args.brief:
            print_summary(console, [report], messages=words)
        else:
            if scanned > 1:
                console.rule()
            print_reports(console, [report], config.scoring, messages=words)
            summary.append(report)
        worst = max(worst, _EXIT_BY_LEVEL[report.verdict.level])
        sys.stdout.flush()
    if stix_reports:
        from triage.report.stix import render_stix

        sys.stdout.write(render_stix(stix_reports, tlp=args.tlp) + "\n")
    if len(summary) > 1:
        console.rule(words.t("text.summary"))
        print_summary(console, summary, messages=words)
    if html_words is not None and scanned:
        from triage.report.html import render_html

        try:
            args.html.write_text(render_html(html_reports, html_words, config.scoring), encoding="utf-8")
        except OSError as exc:
            print(f"triage: {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    if scanned == 0 and errors == 0:
        print(words.t("cli.no_messages"), file=sys.stderr)
        return EXIT_ERROR
    if errors and worst == EXIT_CLEAN:
        return EXIT_ERROR
    return worst


def main(argv: Sequence[str] | None = None, *, fast_exit: bool = False) -> int:
    """Run one command; its exit status. With `fast_exit` (the console script), a finished `triage scan` ends the
    process at once instead of returning: see `run`."""
    ui = _ui_messages(sys.argv[1:] if argv is None else argv)
    parser = _parser(ui)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "scan":
        try:
            code = _scan(args, ui)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (| head): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_CLEAN
        if fast_exit:
            _exit_now(code)
        return code
    handler = getattr(args, "handler", None)
    if handler is not None:
        try:
            return int(handler(args))
        except KeyboardInterrupt:
            return 130
    parser.print_help()
    return EXIT_USAGE


def _exit_now(code: int) -> None:
    """End a finished scan without tearing the interpreter down.

    Freeing the Japanese dictionary, the YARA rules and every module's objects costs ~60 ms, a tenth of a
    one-message scan, and buys nothing: a scan holds no pool, server, lock or temporary file. Output is flushed
    first; other commands (pools, servers, files to close) exit the normal way.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # the reader went away, or the stream is closed
            stream.flush()
    os._exit(code)


def run() -> None:
    """The `triage` console script."""
    sys.exit(main(fast_exit=True))


if __name__ == "__main__":
    run()
