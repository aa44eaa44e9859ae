"""Faults while mail flows through Postfix and `triage milter`, and a count proving that no message is lost.

Topology (one throw-away Postfix): the test submits to a front smtpd without the milter, which queues each message
and relays it (content_filter) to the gateway smtpd whose milter is `triage milter`. The front side stands in for
the sending MTA: whatever the gateway side answers with 4xx stays deferred in the queue and is retried when the test
flushes it (`postqueue -f`), never by waiting for Postfix's back-off.

Faults, while several SMTP sessions submit at once: a thread SIGKILLs random scanning workers; the milter is stopped
with SIGTERM and started again, then killed outright (SIGKILL of its main process: its workers must follow) and
started again, with mail submitted while it is down (Postfix's `milter_default_action = tempfail` applies); more
slow messages than workers (the deadline policy); and the adversarial corpus. Policy: a crashed worker is
`on_error = "tempfail"` (the message is retried and gets a real verdict), a timeout `on_timeout = "accept"`
(delivered with X-Triage-Error), suspicious mail is rejected, malicious mail is held.

Every message carries a unique `X-Fault-Id`; at the end the test finds each id in Postfix's own state: the Maildir
(delivered), the hold queue (held), the delivery status notifications the front side sent back for a 550 from the
gateway side (rejected). sent = delivered + held + rejected, each id exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_message, make_zip

from ._postfix import (
    DOMAIN,
    Milter,
    Postfix,
    _descendants,
    _reap,
    available,
    running_postfix,
    survivors_of_killed_owner,
)

SITE = """
[gateway]
deadline_seconds = 6.0
workers = 2
worker_memory_mb = 1024
recycle_after = 25
clean = "tag"
suspicious = "reject"
malicious = "quarantine"
on_error = "tempfail"
on_timeout = "accept"
on_too_large = "accept"
reject_reason = "Message refused: it looks like a targeted attack"
"""
REJECT_REASON = b"Message refused: it looks like a targeted attack"
SENDER = f"fault-sender@{DOMAIN}"  # a DSN for a rejected message comes back into the test's Maildir
RCPT = f"hanako@{DOMAIN}"
ID_RE = re.compile(rb"X-Fault-Id: (f[0-9]{3}-[0-9a-f]{12})")
SESSIONS = 4
SLOW = 4  # slow messages at once, against 2 workers


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    reason = available()
    if reason:
        pytest.skip(reason)
    with running_postfix(front=True) as instance:
        yield instance


# -- messages --------------------------------------------------------------------------------------------------------


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _inline_adversarial() -> list[tuple[str, bytes]]:
    """A few crafted messages, used only when tests/adversarial/cases.py is not there."""
    nested = b"innermost"
    for level in range(20):
        nested = make_zip([(f"level{level}.zip", nested)])
    bomb = make_zip([("zeros.bin", bytes(40 * 1024 * 1024))])
    broken = (
        b"From: a@example.org\r\nSubject: =?x-unknown?B?////?= =?utf-8?Q?=ZZ?=\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe\x00text\r\n" * 200
        + b"--c--\r\n"
    )
    return [
        ("inline-nested-20", make_message(subject="nested", attachments=[("n.zip", nested, "application/zip")])),
        ("inline-zip-bomb", make_message(subject="bomb", attachments=[("b.zip", bomb, "application/zip")])),
        ("inline-broken-mime", broken),
        ("inline-long-header", make_message(subject="long", headers=[("X-Long", "a" * 200_000)])),
        (
            "inline-traversal",
            make_message(
                subject="names",
                attachments=[
                    ("t.zip", make_zip([("../../etc/x.exe", b"MZ"), ("/abs/y.exe", b"MZ")]), "application/zip")
                ],
            ),
        ),
        ("inline-truncated-zip", make_message(attachments=[("cut.zip", bomb[:3000], "application/zip")])),
    ]


def _adversarial() -> tuple[str, list[tuple[str, bytes]]]:
    try:
        from tests.adversarial.cases import all_cases
    except ImportError:
        return "inline (tests/adversarial/cases.py missing)", _inline_adversarial()
    cases = [(case.name, case.build()) for case in all_cases() if case.small]
    return f"tests.adversarial.cases: {len(cases)} small cases", cases


def _samples() -> list[tuple[str, bytes]]:
    """Every third sample (05_rlo_exe among them): enough variety, and the test stays within its time budget."""
    return [(path.stem, path.read_bytes()) for path in sorted((ROOT / "samples").glob("*.eml"))[1::3]]


@dataclass
class Ledger:
    """What the test submitted, and what it did to the gateway."""

    sent: dict[str, str] = field(default_factory=dict)  # fault id -> what the message was
    refused_at_submission: dict[str, str] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)  # ids seen in the deferred queue before a flush
    kills: int = 0
    restarts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def tag(self, label: str, raw: bytes) -> tuple[str, bytes]:
        with self.lock:
            self.counter += 1
            fid = f"f{self.counter:03d}-{uuid.uuid4().hex[:12]}"
        return fid, f"X-Fault-Id: {fid}\r\n".encode() + _crlf(raw)


def _submit(postfix: Postfix, ledger: Ledger, batch: list[tuple[str, bytes]]) -> None:
    """One SMTP session to the front smtpd; several messages in it."""
    with postfix.front_smtp() as smtp:
        for label, raw in batch:
            fid, tagged = ledger.tag(label, raw)
            try:
                smtp.sendmail(SENDER, [RCPT], tagged)
            except Exception as exc:  # counted, not lost: the test asserts there are none
                with ledger.lock:
                    ledger.refused_at_submission[fid] = f"{label}: {exc}"
                continue
            with ledger.lock:
                ledger.sent[fid] = label


def _submit_concurrently(postfix: Postfix, ledger: Ledger, messages: list[tuple[str, bytes]]) -> None:
    per_session = 5
    batches = [messages[i : i + per_session] for i in range(0, len(messages), per_session)]
    queue = list(batches)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                batch = queue.pop(0)
            _submit(postfix, ledger, batch)

    threads = [threading.Thread(target=worker) for _ in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


# -- faults ----------------------------------------------------------------------------------------------------------


class Gateway:
    """The current milter, replaced on restart; every instance is stopped by the module's milter_factory."""

    def __init__(self, postfix: Postfix, started: list[Milter]) -> None:
        self.postfix = postfix
        self.started = started
        self.current = self._start()

    def _start(self) -> Milter:
        milter = Milter(self.postfix, SITE)
        milter.start()
        self.started.append(milter)
        return milter

    def events(self) -> int:
        return self.current.log().count('"event": "message"')

    def stop_term(self) -> None:
        left = self.current.stop()
        assert not left, f"milter processes left behind: {left}"

    def kill(self) -> None:
        """SIGKILL the milter process alone (an OOM kill, a crash): its fork server and workers must follow."""
        proc = self.current.proc
        assert proc is not None
        family = _descendants(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        left = _reap(family, 10.0)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(left, 5.0)
        assert not left, f"processes outlived the killed milter: {left}"

    def restart(self) -> None:
        self.current = self._start()


def _killer(gateway: Gateway, ledger: Ledger, stop: threading.Event, rng: random.Random) -> None:
    """SIGKILL a random live scanning worker every so often, whichever milter is current."""
    while not stop.wait(rng.uniform(1.5, 3.0)):
        try:
            pids = gateway.current.worker_pids()
        except (AssertionError, OSError):
            continue
        if not pids:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(rng.choice(pids), signal.SIGKILL)
            with ledger.lock:
                ledger.kills += 1


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


# -- counting from Postfix -------------------------------------------------------------------------------------------


def _fault_id(text: bytes) -> str | None:
    found = ID_RE.search(text)
    return found.group(1).decode() if found else None


def _settle(postfix: Postfix, timeout: float = 60.0) -> list[dict[str, object]]:
    """Wait until nothing is incoming or being delivered; the queue entries then."""
    entries: list[dict[str, object]] = []

    def quiet() -> bool:
        nonlocal entries
        entries = postfix.queue_entries()
        return not any(e.get("queue_name") in ("incoming", "active", "maildrop") for e in entries)

    # Twice in a row: a message moves from incoming to active between two looks.
    _wait(lambda: quiet() and (time.sleep(0.5) is None) and quiet(), timeout)
    return entries


def _flush(postfix: Postfix, ledger: Ledger, entries: list[dict[str, object]] | None = None) -> bool:
    """Note which messages are deferred, then retry them all now; False if none was."""
    deferred = [e for e in entries or postfix.queue_entries() if e.get("queue_name") == "deferred"]
    for entry in deferred:
        fid = _fault_id(postfix.queued_headers(str(entry["queue_id"])).encode())
        if fid:
            ledger.deferred.add(fid)
    postfix.flush()
    return bool(deferred)


def _drain(postfix: Postfix, ledger: Ledger, rounds: int = 8) -> list[dict[str, object]]:
    """Retry everything deferred until only held mail is left in the queue (or the rounds run out)."""
    entries = _settle(postfix)
    for _ in range(rounds):
        if not _flush(postfix, ledger, entries):
            break
        time.sleep(0.5)
        entries = _settle(postfix)
    return entries


@dataclass
class Tally:
    delivered: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    other_bounces: list[str] = field(default_factory=list)
    delivered_headers: dict[str, bytes] = field(default_factory=dict)


def _tally(postfix: Postfix) -> Tally:
    tally = Tally()
    new = postfix.maildir / "new"
    for path in sorted(new.glob("*")) if new.exists() else ():
        data = path.read_bytes()
        head = data.split(b"\n\n", 1)[0]
        fid = _fault_id(data)
        if head.startswith(b"Return-Path: <>") and b"report-type=delivery-status" in head:  # a DSN
            if fid and REJECT_REASON in b" ".join(data.split()) and b"5.7.1" in data:  # the DSN folds lines
                tally.rejected[fid] += 1
            else:
                tally.other_bounces.append(path.name)
            continue
        if fid:
            tally.delivered[fid] += 1
            tally.delivered_headers[fid] = head
    hold = postfix.queue / "hold"
    for path in hold.rglob("*") if hold.exists() else ():
        if path.is_file():
            fid = _fault_id(path.read_bytes())
            if fid:
                tally.held[fid] += 1
    return tally


def _table(rows: list[tuple[str, int]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value:>5}" for name, value in rows)


# -- the test --------------------------------------------------------------------------------------------------------


def test_no_mail_lost_or_duplicated_under_faults(
    postfix: Postfix, milter_factory: list[Milter], tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(8)  # the faults are random, the run is repeatable in what it submits
    ledger = Ledger()
    samples = _samples()
    corpus_source, adversarial = _adversarial()
    started = time.monotonic()
    phases: list[str] = []

    def phase(name: str) -> None:
        phases.append(f"{name} {time.monotonic() - started:.1f}s")

    gateway = Gateway(postfix, milter_factory)
    phase("milter up")
    stop_killer = threading.Event()
    killer = threading.Thread(target=_killer, args=(gateway, ledger, stop_killer, rng), daemon=True)

    def clean(n: int) -> list[tuple[str, bytes]]:
        return [
            (f"clean-{i}", make_message(subject=f"打合せの件 {i}", body="来週の打合せの件です。")) for i in range(n)
        ]

    # 1. Mail flows through several sessions while workers are killed at random; the milter is restarted mid-flow.
    flow = clean(8) + samples + adversarial
    rng.shuffle(flow)
    third = len(flow) // 3
    killer.start()
    submitter = threading.Thread(target=_submit_concurrently, args=(postfix, ledger, flow[:third]))
    submitter.start()
    _wait(lambda: gateway.events() >= 8, 60)
    gateway.stop_term()  # SIGTERM: drains in-flight messages, then stops
    ledger.restarts.append("SIGTERM")
    _submit(postfix, ledger, clean(3))  # submitted while no milter listens: the gateway side tempfails them
    gateway.restart()
    submitter.join(timeout=120)
    _submit_concurrently(postfix, ledger, flow[third : 2 * third])
    _wait(lambda: gateway.events() >= 8, 60)
    gateway.kill()  # SIGKILL of the milter: whatever it was scanning is cut off
    ledger.restarts.append("SIGKILL")
    _submit(postfix, ledger, clean(3))
    assert _wait(lambda: any(e.get("queue_name") == "deferred" for e in postfix.queue_entries()), 30), (
        "nothing was deferred while the milter was down"
    )
    gateway.restart()
    _flush(postfix, ledger)  # the deferred ones are retried while the rest flows in
    _submit_concurrently(postfix, ledger, flow[2 * third :])
    _settle(postfix, timeout=90)
    phase("flow done")
    stop_killer.set()
    killer.join(timeout=5)

    # 2. More slow messages than workers: each ends by the deadline policy (accept, X-Triage-Error: timeout).
    slow = [(f"slow-{i}", make_message(subject=f"slow {i}", headers=[("X-Test-Fault", "sleep")])) for i in range(SLOW)]
    _submit_concurrently(postfix, ledger, slow + clean(2))

    # 3. Retry whatever was deferred until only held mail is left, then count.
    phase("slow sent")
    entries = _drain(postfix, ledger)
    phase("drained")
    left = [e for e in entries if e.get("queue_name") != "hold"]
    tally = _tally(postfix)
    sent = set(ledger.sent)
    found = set(tally.delivered) | set(tally.held) | set(tally.rejected)
    lost = sorted(sent - found)
    unknown = sorted(found - sent)
    seen = tally.delivered + tally.held + tally.rejected
    duplicated = sorted(fid for fid, n in seen.items() if n > 1)
    retried = ledger.deferred & found
    errors = [line for milter in milter_factory for line in milter.log().splitlines() if '"event": "error"' in line]
    rows = [
        ("sent", len(sent)),
        ("delivered", len(tally.delivered)),
        ("held (quarantine)", len(tally.held)),
        ("rejected (550, DSN)", len(tally.rejected)),
        ("deferred then retried", len(retried)),
        ("still queued (not held)", len(left)),
        ("lost", len(lost)),
        ("duplicated", len(duplicated)),
        ("refused at submission", len(ledger.refused_at_submission)),
        ("other bounces", len(tally.other_bounces)),
        ("workers killed", ledger.kills),
        ("milter restarts", len(ledger.restarts)),
        ("milter internal errors", len(errors)),
        ("adversarial messages", len(adversarial)),
    ]
    table = f"gateway fault counts (adversarial corpus: {corpus_source})\n{_table(rows)}\n  at: {', '.join(phases)}"
    print("\n" + table)
    (tmp_path / "fault_counts.txt").write_text(table + "\n")
    record_property("fault_counts", json.dumps(dict(rows)))

    detail = f"{table}\nlost={lost[:10]} duplicated={duplicated[:10]} left={left[:5]}\n{postfix.log()[-3000:]}"
    assert not ledger.refused_at_submission, ledger.refused_at_submission
    assert not lost and not duplicated and not unknown, detail
    assert len(sent) == len(tally.delivered) + len(tally.held) + len(tally.rejected), detail
    assert not left and not tally.other_bounces, detail
    assert not errors, errors[:5]
    assert ledger.kills > 0 and ledger.restarts == ["SIGTERM", "SIGKILL"]
    assert retried, "no message went through the deferred-then-retried path"

    # Each outcome is the configured one for what the message was.
    labels = ledger.sent
    for fid, head in tally.delivered_headers.items():
        verdict = re.search(rb"\nX-Triage-Verdict: (\S+)", head)
        error = re.search(rb"\nX-Triage-Error: (\w+)", head)
        assert (verdict is None) != (error is None), f"{labels[fid]}: one of verdict or error:\n{head[-1500:]!r}"
        if verdict:
            assert verdict.group(1).rstrip(b";") == b"clean", f"{labels[fid]} delivered as {verdict.group(1)!r}"
        else:
            assert error is not None and error.group(1) == b"timeout", f"{labels[fid]}: {error and error.group(1)!r}"
    for fid in (f for f, label in labels.items() if label.startswith("slow-")):
        assert fid in tally.delivered, f"slow message {labels[fid]} was not delivered"
        assert b"X-Triage-Error: timeout" in tally.delivered_headers[fid]
    for fid in (f for f, label in labels.items() if label.startswith("clean-")):
        assert fid in tally.delivered, f"{labels[fid]} was not delivered"
    # Malicious samples are held (a scan cut short by load may make one "suspicious; incomplete": rejected).
    rlo = next(f for f, label in labels.items() if label == "05_rlo_exe")
    timed_out = b"X-Triage-Error: timeout" in tally.delivered_headers.get(rlo, b"")
    assert rlo in tally.held or rlo in tally.rejected or timed_out
    assert tally.held and tally.rejected, "the quarantine and reject policies were both exercised"


_POOL_OWNER = """
import threading, time
from triage.isolation import ScanPool, WorkerSpec
if __name__ == "__main__":
    pool = ScanPool(WorkerSpec(factory="gateway._faults:make_engine"), workers=2, deadline=600)
    pool.start()
    threading.Thread(target=pool.scan, args=(b"X-Test-Fault: sleep\\r\\n\\r\\nbody\\r\\n",), daemon=True).start()
    print("scanning", flush=True)
    time.sleep(600)
"""


def test_scanning_workers_do_not_outlive_a_killed_milter() -> None:
    """SIGKILL of the milter alone (the OOM killer's way): its workers, even one stuck in a scan, and the fork
    server go too, instead of running on with nobody to enforce the deadline."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    # the resource tracker, the fork server, its workers
    left = survivors_of_killed_owner(_POOL_OWNER, cwd=ROOT, env=env, min_family=3)
    assert not left, "processes outlived the pool's owner"
