"""`triage extract`: scan one message and pack chosen artifacts into a zip encrypted with the password `infected`.

Adapts the command line to `triage.extract` (selection, names, the zip); no detection here, nothing heavy is
imported until the handler runs.

Exit codes: 0 the zip and manifest were written · 1 nothing selected, an input that could not be read, an
unknown artifact id, or an output that exists (without --force) · 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.report.i18n import Messages

EXIT_WRITTEN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any, messages: Messages | None = None) -> None:
    from triage.report.i18n import load_messages

    m = messages if messages is not None else load_messages("en")
    extract = subparsers.add_parser(
        "extract",
        help=m.t("cli.extract_help"),
        description=m.t("cli.extract_description"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    extract.add_argument("file", metavar="FILE", help=m.t("cli.extract_file"))
    extract.add_argument("--out", required=True, type=Path, metavar="DIR", help=m.t("cli.extract_out"))
    extract.add_argument("--id", action="append", default=[], dest="ids", metavar="ART_ID", help=m.t("cli.extract_id"))
    extract.add_argument(
        "--type", action="append", default=[], dest="types", metavar="TAG", help=m.t("cli.extract_type")
    )
    extract.add_argument("--all-payloads", action="store_true", help=m.t("cli.extract_all_payloads"))
    extract.add_argument("--all", action="store_true", dest="everything", help=m.t("cli.extract_all"))
    extract.add_argument("--password", action="append", default=[], metavar="PW", help=m.t("cli.extract_password"))
    extract.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.config"))
    extract.add_argument("--force", action="store_true", help=m.t("cli.extract_force"))
    extract.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from triage.config import load_config
    from triage.engine import Engine
    from triage.errors import ConfigError
    from triage.extract import (
        ExtractError,
        Selection,
        escaped_names,
        output_paths,
        plan,
        refuse_existing,
        scan_keeping,
        write,
    )
    from triage.filetype import TAGS
    from triage.names import escape_controls
    from triage.sources.msg import MsgError, NotMail, as_message

    unknown = sorted(set(args.types) - TAGS)
    if unknown:
        print(f"triage extract: unknown --type {', '.join(unknown)}; tags: {', '.join(sorted(TAGS))}", file=sys.stderr)
        return EXIT_USAGE
    selection = Selection(
        ids=tuple(dict.fromkeys(args.ids)),
        types=tuple(dict.fromkeys(args.types)),
        payloads=args.all_payloads,
        everything=args.everything,
    )
    try:
        config = load_config(args.config, passwords=tuple(args.password))
        engine = Engine(config)
    except ConfigError as exc:
        print(f"triage extract: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    limit = config.limits.max_message_size
    name = args.file
    try:
        raw = as_message(_read(args.file, limit), limit=limit)
    except (OSError, ValueError, NotMail, MsgError) as exc:
        print(f"triage extract: {name}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return EXIT_ERROR

    try:
        # Before the scan, which may take max_seconds: the output's name depends only on the message bytes.
        refuse_existing(output_paths(args.out, hashlib.sha256(raw).hexdigest()), args.force)
    except ExtractError as exc:
        print(f"triage extract: {name}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    report, blobs = scan_keeping(engine.scan, raw, name)
    try:
        the_plan = plan(report, selection)
    except ExtractError as exc:
        print(f"triage extract: {name}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for skipped in the_plan.skipped:
        print(
            f"triage extract: not extracted: {skipped.id} {skipped.name or '(unnamed)'}: {skipped.reason}",
            file=sys.stderr,
        )
    try:
        written = write(args.out, report, the_plan, blobs, selection=selection, force=args.force)
    except ExtractError as exc:
        print(f"triage extract: {name}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    state = "" if report.verdict.complete else ", incomplete"
    print(f"{report.verdict.level.value.upper()} (score {report.score.total:g}{state})  {escape_controls(name)}")
    for line in escaped_names(written.plan.chosen):
        print(f"  {line}")
    print(
        f"wrote {written.zip_path} ({written.members} file(s) + manifest.json, AES-256, password: infected) "
        f"and {written.manifest_path}"
    )
    return EXIT_WRITTEN


def _read(file: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes: the caller decides what an oversize input means."""
    if file == "-":
        return sys.stdin.buffer.read(limit + 1)
    with Path(file).open("rb") as fh:
        return fh.read(limit + 1)
