"""`triage milter`: the engine in the path of mail, for Postfix and Sendmail (pymilter, libmilter).

One connection object per SMTP session; each message in it (MAIL FROM ... end of data) is buffered up to the
gateway's max_message_size, scanned in a worker process with a hard deadline (`triage.isolation`), and gets its
own action from the [gateway] policy. X-Triage-* headers from outside are deleted first, so a sender cannot
forge a verdict. Nothing here raises into libmilter: a failure of ours becomes the on_error policy.

libmilter owns the process's signals: SIGTERM stops the listener; in-flight messages then get up to
DRAIN_SECONDS to finish (past that, their pending scans end with the on_timeout policy) and the process exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.gateway.policy import Action, Decision, FailureKind, GatewayPolicy, decide
from triage.model import Envelope, Report

if TYPE_CHECKING:
    from triage.gateway.logline import LogLines
    from triage.isolation import ScanPool
    from triage.report.i18n import Messages

DEFAULT_SOCKET = "unix:/run/triage/milter.sock"
DRAIN_SECONDS = 1.2  # SIGTERM to exit stays under 2 s
_MAX_ENVELOPE_TEXT = 512


def add_parser(subparsers: Any, messages: Messages | None = None) -> None:
    from triage.report.i18n import load_messages

    m = messages if messages is not None else load_messages("en")
    parser = subparsers.add_parser("milter", help=m.t("cli.milter_help"), description=m.t("cli.milter_description"))
    parser.add_argument(
        "--socket", default=DEFAULT_SOCKET, metavar="SPEC", help=m.t("cli.milter_socket", default=DEFAULT_SOCKET)
    )
    parser.add_argument("--socket-mode", default="660", metavar="OCTAL", help=m.t("cli.milter_socket_mode"))
    parser.add_argument("--config", type=Path, metavar="FILE", help=m.t("cli.config"))
    parser.add_argument("--engine-factory", default=None, metavar="MODULE:CALLABLE", help=m.t("cli.engine_factory"))
    parser.add_argument("--check-config", action="store_true", help=m.t("cli.milter_check_config"))
    parser.set_defaults(handler=run)


@dataclass
class _Message:
    """One message of a session, from MAIL FROM to end of data."""

    mail_from: str = ""
    rcpt_to: list[str] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    too_large: bool = False
    header_counts: dict[str, int] = field(default_factory=dict)
    forged: list[tuple[str, int]] = field(default_factory=list)  # (name, index among headers of that name)
    subject: str | None = None
    subject_8bit: bool = False
    message_id: str | None = None


class Gateway:
    """What every connection shares: the policy, the worker pool, the log, and the in-flight count."""

    def __init__(self, policy: GatewayPolicy, pool: ScanPool, log: LogLines) -> None:
        self.policy = policy
        self.pool = pool
        self.log = log
        self._lock = threading.Condition()
        self._in_flight = 0

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def drain(self, seconds: float) -> int:
        """Wait up to `seconds` for in-flight messages; returns how many are left."""
        end = time.monotonic() + seconds
        with self._lock:
            while self._in_flight and time.monotonic() < end:
                self._lock.wait(timeout=max(0.0, end - time.monotonic()))
            return self._in_flight


def _text(value: Any) -> str:
    """Envelope and header values as text: pymilter hands bytes or surrogate-escaped str."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).encode("utf-8", "replace").decode("utf-8")[:_MAX_ENVELOPE_TEXT]


def _address(value: Any) -> str:
    text = _text(value).strip()
    return text[1:-1] if text.startswith("<") and text.endswith(">") else text


def _milter_class(gateway: Gateway) -> type:
    import Milter

    class TriageMilter(Milter.Base):  # type: ignore[misc]  # pymilter is untyped
        def __init__(self) -> None:
            self.client_ip: str | None = None
            self.helo: str | None = None
            self.msg = _Message()

        # -- SMTP session ----------------------------------------------------------------------------------------
        @Milter.noreply  # type: ignore[untyped-decorator]
        def connect(self, hostname: Any, family: Any, hostaddr: Any) -> int:
            if isinstance(hostaddr, tuple) and hostaddr:
                self.client_ip = _text(hostaddr[0])
            return int(Milter.CONTINUE)

        @Milter.noreply  # type: ignore[untyped-decorator]
        def hello(self, heloname: Any) -> int:
            self.helo = _text(heloname)
            return int(Milter.CONTINUE)

        @Milter.noreply  # type: ignore[untyped-decorator]  # the MTA need not wait: the verdict comes at end of data
        def envfrom(self, mailfrom: Any, *params: Any) -> int:
            self.msg = _Message(mail_from=_address(mailfrom))  # a new message: nothing carries over
            return int(Milter.CONTINUE)

        @Milter.noreply  # type: ignore[untyped-decorator]
        def envrcpt(self, to: Any, *params: Any) -> int:
            if len(self.msg.rcpt_to) < 1000:
                self.msg.rcpt_to.append(_address(to))
            return int(Milter.CONTINUE)

        @Milter.decode("bytes")  # type: ignore[untyped-decorator]  # outermost: pymilter looks the strategy up on the method
        @Milter.noreply  # type: ignore[untyped-decorator]
        def header(self, name: Any, value: Any) -> int:
            msg = self.msg
            key = _text(name)
            raw_value = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
            lower = key.lower()
            msg.header_counts[lower] = msg.header_counts.get(lower, 0) + 1
            if lower.startswith("x-triage-"):
                msg.forged.append((key, msg.header_counts[lower]))
            if lower == "subject" and msg.subject is None and not msg.subject_8bit:
                try:
                    msg.subject = raw_value.decode("ascii")
                except UnicodeDecodeError:
                    msg.subject_8bit = True  # raw 8-bit text in an unknown charset: never rewritten
            elif lower == "message-id" and msg.message_id is None:
                msg.message_id = _text(raw_value).strip()
            # Postfix folds with a bare LF; the engine gets the message as it was on the wire, CRLF.
            line = key.encode("utf-8", "replace") + b": " + raw_value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            self._keep(line + b"\r\n")
            return int(Milter.CONTINUE)

        @Milter.noreply  # type: ignore[untyped-decorator]
        def eoh(self) -> int:
            self._keep(b"\r\n")
            return int(Milter.CONTINUE)

        @Milter.noreply  # type: ignore[untyped-decorator]
        def body(self, chunk: bytes) -> int:
            self._keep(chunk)
            return int(Milter.CONTINUE)

        def _keep(self, data: bytes) -> None:
            msg = self.msg
            msg.size += len(data)
            if msg.too_large:
                return
            if msg.size > gateway.policy.max_message_size:
                msg.too_large = True
                msg.chunks.clear()  # counted, never kept: memory stays bounded whatever the size
                return
            msg.chunks.append(data)

        def eom(self) -> int:
            gateway.begin()
            started = time.monotonic()
            try:
                return self._finish(started)
            except Exception as exc:  # ours, not the message's: the message still gets the on_error policy
                gateway.log.write("error", stage="eom", error=f"{type(exc).__name__}: {exc}")
                try:
                    return self._apply(decide(gateway.policy, None, FailureKind.CRASHED))
                except Exception:  # could not even modify the message: the sender keeps it and retries
                    return int(Milter.TEMPFAIL)
            finally:
                self.msg = _Message()
                gateway.end()

        def abort(self) -> int:
            self.msg = _Message()
            return int(Milter.CONTINUE)

        def close(self) -> int:
            return int(Milter.CONTINUE)

        # -- the verdict -----------------------------------------------------------------------------------------
        def _finish(self, started: float) -> int:
            msg = self.msg
            queue_id = _text(self.getsymval("i") or "") or None
            envelope = Envelope(
                client_ip=self.client_ip,
                helo=self.helo,
                mail_from=msg.mail_from,
                rcpt_to=tuple(msg.rcpt_to),
                queue_id=queue_id,
            )
            failure: FailureKind | None = FailureKind.TOO_LARGE
            report: Report | None = None
            if msg.too_large:
                detail = f"{msg.size} bytes"
            else:
                # the pool takes the chunks over (the list is left empty): the message is kept once while it waits
                outcome = gateway.pool.scan_chunks(msg.chunks, envelope, name=queue_id)
                report, failure, detail = outcome.report, outcome.failure, outcome.detail
            decision = decide(gateway.policy, report, failure)
            gateway.log.write(
                "message",
                queue_id=queue_id,
                message_id=msg.message_id,
                client_ip=self.client_ip,
                mail_from=msg.mail_from,
                rcpt_count=len(msg.rcpt_to),
                size=msg.size,
                verdict=report.verdict.level.value if report else None,
                complete=report.verdict.complete if report else None,
                score=report.score.total if report else None,
                findings=report.finding_ids() if report else None,
                failure=failure.value if failure else None,
                detail=detail or None,
                action=decision.action.value,
                removed_headers=len(msg.forged) or None,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            return self._apply(decision)

        def _apply(self, decision: Decision) -> int:
            if decision.reply is not None:
                code, xcode, text = decision.reply
                self.setreply(code, xcode, text)  # no "%" in it: the policy refuses one
                return int(Milter.REJECT if decision.action is Action.REJECT else Milter.TEMPFAIL)
            # Delete from the last occurrence up, so an index never shifts under a later deletion.
            for name, index in sorted(self.msg.forged, key=lambda item: -item[1]):
                self.chgheader(name, index, "")
            if decision.subject_prefix and not self.msg.subject_8bit:
                from triage.report.headers import prefixed_subject

                value = prefixed_subject(self.msg.subject, decision.subject_prefix)
                if self.msg.subject is None:
                    self.addheader("Subject", value)
                else:
                    self.chgheader("Subject", 1, value)
            for name, value in decision.headers:
                self.addheader(name, value)
            if decision.action is Action.QUARANTINE:
                self.quarantine("triage: " + dict(decision.headers).get("X-Triage-Verdict", "quarantined"))
            return int(Milter.ACCEPT)

    return TriageMilter


def _socket_spec(spec: str) -> str:
    if spec.startswith("/"):
        return "unix:" + spec
    if spec.startswith(("unix:", "local:", "inet:", "inet6:")):
        return spec
    raise ValueError(f"socket {spec!r}: expected unix:/path or inet:PORT@127.0.0.1")


def run(args: argparse.Namespace) -> int:
    from triage.errors import ConfigError
    from triage.gateway.logline import LogLines
    from triage.isolation import DEFAULT_FACTORY, ScanPool, WorkerSpec, build_scanner

    log = LogLines()
    try:
        socket = _socket_spec(args.socket)
        mode = int(args.socket_mode, 8)
    except ValueError as exc:
        print(f"triage milter: {exc}", file=sys.stderr)
        return 2
    try:
        from triage.config import load_config

        config = load_config(args.config)
        policy = config.scoring.gateway
        spec = WorkerSpec(
            site_file=str(args.config) if args.config else None,
            factory=args.engine_factory or DEFAULT_FACTORY,
            memory_mb=policy.worker_memory_mb,
        )
        if args.check_config:
            build_scanner(spec)
            print(
                f"triage milter: configuration OK: clean={policy.clean} suspicious={policy.suspicious} "
                f"malicious={policy.malicious} on_error={policy.on_error} on_timeout={policy.on_timeout} "
                f"on_too_large={policy.on_too_large} max_message_size={policy.max_message_size} "
                f"deadline={policy.deadline_seconds:g}s workers={policy.workers} recycle_after={policy.recycle_after} "
                f"worker_memory_mb={policy.worker_memory_mb} engine={spec.factory}"
            )
            return 0
    except ConfigError as exc:
        print(f"triage milter: configuration error: {exc}", file=sys.stderr)
        return 2

    import Milter

    pool = ScanPool(
        spec,
        workers=policy.workers,
        deadline=policy.deadline_seconds,
        recycle_after=policy.recycle_after,
        max_message_size=policy.max_message_size,
    )
    try:
        pool.start()
    except ConfigError as exc:
        print(f"triage milter: configuration error: {exc}", file=sys.stderr)
        return 2
    gateway = Gateway(policy, pool, log)
    # Every SMTP session is a libmilter thread that needs the GIL for each header and body chunk; with the default
    # 5 ms switch interval one thread parsing a report makes the others queue behind it (a convoy).
    sys.setswitchinterval(0.0005)
    Milter.factory = _milter_class(gateway)
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE)
    os.umask(0o777 & ~mode)
    log.write("start", socket=socket, workers=policy.workers, deadline=policy.deadline_seconds, pid=os.getpid())
    # libmilter stops on SIGTERM by itself, but only notices at its listener's next 5 s poll timeout. The main
    # thread waits for the signal first (Linux hands a process-directed signal to the main thread when it is
    # waiting for it), then passes it on and wakes the listener with a connection, so SIGTERM ends in < 2 s.
    stop_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    failed: list[str] = []
    stopping = threading.Event()

    def serve() -> None:
        try:
            Milter.runmilter("triage", socket, timeout=600)
        except Exception as exc:  # cannot listen (socket in use, bad path): reported, then the process exits
            failed.append(str(exc))
        finally:
            if not stopping.is_set():
                os.kill(os.getpid(), signal.SIGTERM)  # the listener ended by itself: wake the main thread

    listener = threading.Thread(target=serve, name="milter-listener", daemon=True)
    listener.start()
    signum = signal.sigwait(stop_signals)
    stopping.set()
    log.write("stopping", signal=signal.Signals(signum).name, in_flight=gateway.drain(0))
    # Hand the signal on to libmilter's own signal thread (now the only one waiting for it): it stops the
    # listener, whose poll our connection then wakes. (smfi_stop would block on the listener's lock instead.)
    os.kill(os.getpid(), signal.SIGTERM)
    _wake(socket)
    left = gateway.drain(DRAIN_SECONDS)
    pool.close(grace=0)
    # Scans cut short by the pool's close end with the on_timeout policy. libmilter sends a message's final reply
    # after our callback returns: give those replies a moment to go out.
    gateway.drain(0.3)
    time.sleep(0.05)
    log.write("stop", unfinished=left, error=failed[0] if failed else None)
    sys.stdout.flush()
    sys.stderr.flush()
    # libmilter's session threads are detached and the interpreter's teardown (atexit handlers, the fork server)
    # takes over a second; everything that matters is closed and flushed, so leave now.
    os._exit(1 if failed else 0)


def _wake(spec: str) -> None:
    """Connect to our own listening socket once, so libmilter's listener returns from its poll now."""
    import socket as sockets

    kind, _, where = spec.partition(":")
    with contextlib.suppress(OSError):
        if kind in ("unix", "local"):
            with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as conn:
                conn.settimeout(0.2)
                conn.connect(where)
        elif kind in ("inet", "inet6"):
            port, _, host = where.partition("@")
            family = sockets.AF_INET6 if kind == "inet6" else sockets.AF_INET
            with sockets.socket(family, sockets.SOCK_STREAM) as conn:
                conn.settimeout(0.2)
                conn.connect((host or "127.0.0.1", int(port)))
