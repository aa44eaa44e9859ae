"""`triage filter`: one message on stdin, the same message on stdout with X-Triage-* headers added.

For procmail/maildrop, Postfix pipe(8) and Exim transport filters. The scan runs in a worker process with the
gateway's hard deadline and memory limit (`triage.isolation`). The message is always written out: tagged with the
verdict headers (and the subject prefix of [gateway] subject_prefix), or with X-Triage-Error when no verdict was
reached; X-Triage-* headers that came with the message are removed either way. If the filter itself fails, the
original bytes are written out unchanged.

Exit status (unless --exit-zero):
  0 clean · 3 suspicious · 4 malicious · 1 no verdict (crashed, timed out, too large; the message is still written)
  2 usage or configuration error (the message is still written, unchanged)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from triage.model import Level

if TYPE_CHECKING:
    from triage.gateway.policy import GatewayPolicy
    from triage.report.i18n import Messages

EXIT_NO_VERDICT = 1
EXIT_USAGE = 2
_EXIT_BY_LEVEL = {Level.CLEAN: 0, Level.SUSPICIOUS: 3, Level.MALICIOUS: 4}
_CHUNK = 1 << 20


def add_parser(subparsers: Any, messages: Messages | None = None) -> None:
    from triage.report.i18n import load_messages

    m = messages if messages is not None else load_messages("en")  # the epilog lists the exit statuses
    parser = subparsers.add_parser(
        "filter",
        help=m.t("cli.filter_help"),
        description=m.t("cli.filter_description"),
        epilog=m.t("cli.filter_epilog"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.config"))
    parser.add_argument("--exit-zero", action="store_true", help=m.t("cli.filter_exit_zero"))
    parser.add_argument("--engine-factory", default=None, metavar="MODULE:CALLABLE", help=m.t("cli.engine_factory"))
    parser.set_defaults(handler=run)


def _read_bounded(stream: IO[bytes], limit: int) -> tuple[bytes, bool]:
    """Up to limit + 1 bytes; True when there is more than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), size > limit


def _copy_rest(source: IO[bytes], sink: IO[bytes]) -> None:
    while chunk := source.read(_CHUNK):
        sink.write(chunk)


def filter_message(
    stdin: IO[bytes], stdout: IO[bytes], *, site_file: Path | None = None, factory: str | None = None
) -> int:
    """The whole filter on two byte streams; returns the exit status (before --exit-zero)."""
    raw = b""
    wrote = False
    try:
        from triage.config import load_config
        from triage.errors import ConfigError
        from triage.gateway.policy import FailureKind, decide
        from triage.isolation import DEFAULT_FACTORY, ScanPool, WorkerSpec
        from triage.report.headers import rewrite_message

        try:
            config = load_config(site_file)
        except ConfigError as exc:
            # Read everything we are given, unchanged, so the mail is not lost.
            print(f"triage filter: configuration error: {exc}", file=sys.stderr)
            stdout.write(stdin.read(_CHUNK))
            wrote = True
            _copy_rest(stdin, stdout)
            return EXIT_USAGE
        policy = _always_tag(config.scoring.gateway)
        raw, too_large = _read_bounded(stdin, policy.max_message_size)
        if too_large:
            decision = decide(policy, None, FailureKind.TOO_LARGE, linesep="\r\n")
            stdout.write(rewrite_message(raw, decision.headers))
            wrote = True
            _copy_rest(stdin, stdout)
            return EXIT_NO_VERDICT
        spec = WorkerSpec(
            site_file=str(site_file) if site_file else None,
            factory=factory or DEFAULT_FACTORY,
            memory_mb=policy.worker_memory_mb,
            warm_up=False,  # one message: load only what it needs
        )
        # One worker for one message, forked from this single-threaded process: no fork server to start.
        with ScanPool(spec, workers=1, deadline=policy.deadline_seconds, start_method="fork") as pool:
            outcome = pool.scan(raw)
        decision = decide(policy, outcome.report, outcome.failure, linesep="\r\n")
        headers, prefix = decision.headers, decision.subject_prefix
        stdout.write(rewrite_message(raw, headers, prefix))
        wrote = True
        if outcome.report is None:
            print(f"triage filter: no verdict ({outcome.failure}): {outcome.detail}", file=sys.stderr)
            return EXIT_NO_VERDICT
        return _EXIT_BY_LEVEL[outcome.report.verdict.level]
    except Exception as exc:  # a bug of ours must not eat the mail: write what we were given, unchanged
        print(f"triage filter: internal error, message passed unchanged: {type(exc).__name__}: {exc}", file=sys.stderr)
        if not wrote:
            stdout.write(raw)
            _copy_rest(stdin, stdout)
        return EXIT_NO_VERDICT


def _always_tag(policy: GatewayPolicy) -> GatewayPolicy:
    """A filter cannot refuse or hold mail: it always tags, and its exit status tells the caller the verdict."""
    return policy.updated(
        {"clean": "tag", "suspicious": "tag", "malicious": "tag"}
        | {"on_error": "accept", "on_timeout": "accept", "on_too_large": "accept"},
        "filter",
    )


def run(args: argparse.Namespace) -> int:
    status = filter_message(sys.stdin.buffer, sys.stdout.buffer, site_file=args.config, factory=args.engine_factory)
    sys.stdout.buffer.flush()
    return 0 if args.exit_zero else status
