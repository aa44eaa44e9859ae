"""`triage.isolation`: scans in worker processes with a hard deadline, bounded memory and recycling."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_message
from triage.errors import ConfigError
from triage.gateway.policy import FailureKind
from triage.isolation import ScanPool, WorkerSpec, oom_counter_file
from triage.model import Envelope, Level

FAULTY = WorkerSpec(factory="gateway._faults:make_engine", memory_mb=768)


@pytest.fixture(scope="module")
def pool() -> Iterator[ScanPool]:
    with ScanPool(FAULTY, workers=2, deadline=3.0, recycle_after=3, max_message_size=1_000_000) as instance:
        yield instance


def test_report_comes_back_with_the_envelope(pool: ScanPool) -> None:
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    outcome = pool.scan(raw, Envelope(client_ip="192.0.2.1", mail_from="a@example.org", rcpt_to=("b@example.jp",)))
    assert outcome.ok and outcome.failure is None
    assert outcome.report is not None and outcome.report.verdict.level is Level.MALICIOUS
    assert "FILENAME_RLO" in outcome.report.finding_ids()


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("raise", FailureKind.CRASHED), ("exit", FailureKind.CRASHED), ("memory", FailureKind.MEMORY)],
)
def test_failures_are_outcomes_and_the_pool_recovers(pool: ScanPool, fault: str, kind: FailureKind) -> None:
    outcome = pool.scan(make_message(headers=[("X-Test-Fault", fault)]))
    assert outcome.report is None and outcome.failure is kind and outcome.detail
    after = pool.scan(make_message())
    assert after.ok


def test_hard_deadline_kills_the_worker(pool: ScanPool) -> None:
    before = set(pool.worker_pids())
    outcome = pool.scan(make_message(headers=[("X-Test-Fault", "sleep")]), deadline=1.0)
    assert outcome.failure is FailureKind.TIMEOUT
    assert pool.scan(make_message()).ok
    end = time.monotonic() + 10
    while set(pool.worker_pids()) == before and time.monotonic() < end:
        time.sleep(0.05)
    assert set(pool.worker_pids()) != before  # the sleeper was replaced


def test_too_large_is_refused_without_a_worker(pool: ScanPool) -> None:
    outcome = pool.scan(b"x" * 1_000_001)
    assert outcome.failure is FailureKind.TOO_LARGE


def test_worker_killed_from_outside_is_a_crash() -> None:
    with ScanPool(FAULTY, workers=1, deadline=10.0) as single:
        result: list[object] = []
        thread = threading.Thread(
            target=lambda: result.append(single.scan(make_message(headers=[("X-Test-Fault", "sleep")])))
        )
        thread.start()
        while single.in_flight == 0:
            thread.join(0.05)
        threading.Event().wait(0.5)
        for pid in single.worker_pids():
            os.kill(pid, signal.SIGKILL)
        thread.join(15)
        outcome = result[0]
        assert getattr(outcome, "failure", None) is FailureKind.CRASHED
        assert single.scan(make_message()).ok


def test_recycling_replaces_workers_after_n_messages() -> None:
    with ScanPool(WorkerSpec(), workers=1, deadline=10.0, recycle_after=2) as single:
        first = single.worker_pids()
        assert single.scan(make_message()).ok
        assert single.scan(make_message()).ok
        assert single.scan(make_message()).ok
        assert single.stats.workers_started >= 2
        assert single.worker_pids() != first


def test_concurrent_callers_each_get_their_own_report(pool: ScanPool) -> None:
    # Many more callers than workers: each verdict must reach the caller whose message it is.
    subjects = [f"件名{i}" for i in range(24)]
    results: dict[str, str | None] = {}

    def scan(subject: str) -> None:
        outcome = pool.scan(make_message(subject=subject))
        results[subject] = outcome.report.message.subject if outcome.report else None

    threads = [threading.Thread(target=scan, args=(s,)) for s in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {s: s for s in subjects}


def test_waiting_callers_are_served_in_arrival_order() -> None:
    # Callers wait on a condition each and only the first in line is woken: the order must still be theirs.
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=30.0, start_method="fork") as single:
        served: list[int] = []
        lock = threading.Lock()

        def scan(index: int) -> None:
            outcome = single.scan(make_message(headers=[("X-Test-Fault", "nap")], subject=f"n{index}"))
            with lock:
                served.append(index if outcome.ok else -1)

        threads = []
        for index in range(6):
            thread = threading.Thread(target=scan, args=(index,))
            thread.start()
            threads.append(thread)
            time.sleep(0.05)  # arrive one after the other while the first is being scanned
        for thread in threads:
            thread.join(30)
        assert served == list(range(6))


def test_bad_factory_fails_at_start() -> None:
    with pytest.raises(ConfigError):
        ScanPool(WorkerSpec(factory="no.such.module:make"), workers=1).start()


def test_close_ends_waiting_scans() -> None:
    single = ScanPool(FAULTY, workers=1, deadline=30.0)
    single.start()
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.append(single.scan(make_message(headers=[("X-Test-Fault", "sleep")])))
    )
    thread.start()
    while single.in_flight == 0:
        thread.join(0.05)
    single.close(grace=0.2)
    thread.join(10)
    assert getattr(result[0], "failure", None) is FailureKind.TIMEOUT
    assert single.worker_pids() == []
    assert single.scan(make_message()).failure is FailureKind.TIMEOUT  # closed: nothing is scanned any more


def test_a_message_goes_to_a_ready_worker_before_one_still_warming_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every worker is replaced after one message, and replacements take 4 s to build: the second message must
    # go to the other, ready worker, not wait behind the replacement of the first.
    spec = WorkerSpec(factory="gateway._faults:make_slow_engine", warm_up=False)
    with ScanPool(spec, workers=2, deadline=20.0, recycle_after=1, start_method="fork") as pool:
        monkeypatch.setenv("TRIAGE_TEST_SLOW_BUILD", "4")  # forked workers read it when they build
        for _ in range(2):
            outcome = pool.scan(make_message())
            assert outcome.ok and outcome.seconds < 2.0


def test_a_recycled_worker_serves_until_its_successor_is_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    # One worker, recycled after every message, successors take 2 s to build: the pool must never be without a
    # ready worker (the next message is not held behind the warm-up), and the old worker must go once its
    # successor is ready, leaving one worker again.
    spec = WorkerSpec(factory="gateway._faults:make_slow_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=20.0, recycle_after=1, start_method="fork") as single:
        monkeypatch.setenv("TRIAGE_TEST_SLOW_BUILD", "2")  # forked workers read it when they build
        [first] = single.worker_pids()
        for _ in range(3):  # the first worker's successor is warming up all the while
            outcome = single.scan(make_message())
            assert outcome.ok and outcome.seconds < 1.5
            assert len(single.worker_pids()) <= 2
        assert first in single.worker_pids()
        end = time.monotonic() + 15
        while first in single.worker_pids() and time.monotonic() < end:
            assert single.scan(make_message()).ok  # taken by the successor once it is ready; the first retires
            time.sleep(0.2)
        assert first not in single.worker_pids()
        assert single.stats.failures == {}


def test_a_worker_freezes_its_warmed_up_heap() -> None:
    # A full collection over the warmed-up engine's objects was a ~50 ms stall every thousand messages or so.
    spec = WorkerSpec(factory="gateway._faults:make_engine")
    with ScanPool(spec, workers=1, deadline=20.0, start_method="fork") as single:
        outcome = single.scan(make_message(headers=[("X-Test-Fault", "frozen")]))
        assert outcome.report is not None
        frozen = int(outcome.report.message.subject.removeprefix("frozen="))
        assert frozen > 10_000


def test_a_forked_worker_exits_by_itself_when_the_pool_closes() -> None:
    # A forked worker inherits the pool's end of its pipe; unless it closes that copy, closing the pool never
    # reaches it and every close waits a second and kills it (`triage filter` took that second on every mail).
    pool = ScanPool(WorkerSpec(warm_up=False), workers=1, start_method="fork")
    pool.start()
    processes = list(pool._procs.values())
    assert pool.scan(make_message()).ok
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 0.9
    assert [p.exitcode for p in processes] == [0]


@pytest.fixture
def small_memory_cgroup() -> Iterator[Path]:
    """A memory cgroup of 256 MiB under this process's own, for one test (needs root and a writable cgroup)."""
    own = oom_counter_file(os.getpid())
    if own is None or os.geteuid() != 0:
        pytest.skip("no memory cgroup of ours to make a child in (needs root and cgroup v1 or v2 memory)")
    group = own.parent / f"triage-oom-test-{os.getpid()}"
    try:
        group.mkdir()
        v2 = own.name == "memory.events"
        (group / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(256 * 1024 * 1024))
        # no swapping out of it either, where swap exists: the limit must end in the OOM killer, not in a crawl
        swap = group / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
        if swap.exists():
            swap.write_text("0" if v2 else str(256 * 1024 * 1024))
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    try:
        yield group
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:  # its last process is still being reaped
                time.sleep(0.1)


def test_a_worker_the_oom_killer_ends_is_a_memory_failure(small_memory_cgroup: Path) -> None:
    # The worker's own limit (RLIMIT_AS, 4 GiB here) is above its cgroup's (256 MiB), as under a systemd unit's
    # MemoryMax: the kernel kills it with SIGKILL and no MemoryError is ever raised. The outcome says memory.
    spec = WorkerSpec(factory="gateway._faults:make_engine", memory_mb=4096, warm_up=False)
    with ScanPool(spec, workers=1, deadline=60.0, start_method="fork") as pool:
        (small_memory_cgroup / "cgroup.procs").write_text(str(pool.worker_pids()[0]))
        outcome = pool.scan(make_message(headers=[("X-Test-Fault", "grow")]))
        assert outcome.failure is FailureKind.MEMORY, outcome
        assert "out-of-memory killer" in outcome.detail
        assert pool.scan(make_message()).ok  # a new worker, outside the small cgroup, carries on


def test_a_worker_killed_otherwise_is_still_a_crash() -> None:
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=30.0, start_method="fork") as single:
        pid = single.worker_pids()[0]
        threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()
        outcome = single.scan(make_message(headers=[("X-Test-Fault", "sleep")]))
        assert outcome.failure is FailureKind.CRASHED and "signal 9" in outcome.detail


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


def _stamps(outcome: object) -> tuple[int, int]:
    report = getattr(outcome, "report", None)
    assert report is not None, outcome
    start, end = report.message.subject.split(",")
    return int(start), int(end)


def test_a_worker_takes_the_next_message_without_waiting_for_this_process() -> None:
    # Two messages queued for one worker while this process holds the GIL (as a busy milter's threads do): the
    # worker must go from the first to the second by itself, not wait for a thread here to read the first reply.
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=20.0, start_method="fork") as single:
        results: dict[int, object] = {}
        threads = [
            threading.Thread(
                target=lambda i=i: results.__setitem__(
                    i, single.scan(make_message(headers=[("X-Test-Fault", "stamp")], subject=f"s{i}"))
                )
            )
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        _wait_until(lambda: single.in_flight >= 2)
        time.sleep(0.05)  # both tickets are in the queue
        interval = sys.getswitchinterval()
        sys.setswitchinterval(5.0)
        try:
            busy_until = time.monotonic() + 0.8
            while time.monotonic() < busy_until:  # pure Python: no other thread of ours gets the GIL meanwhile
                pass
        finally:
            sys.setswitchinterval(interval)
        for thread in threads:
            thread.join(20)
        first, second = sorted((_stamps(results[0]), _stamps(results[1])))
        assert second[0] - first[1] < 150_000_000, (first, second)  # ns: back to back, not after the 0.8 s


def test_a_message_queued_behind_a_worker_that_dies_is_scanned_by_its_replacement() -> None:
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=20.0, start_method="fork") as single:
        results: dict[str, object] = {}

        def scan(key: str, fault: str) -> None:
            results[key] = single.scan(make_message(headers=[("X-Test-Fault", fault)], subject=key))

        dying = threading.Thread(target=scan, args=("dies", "late-exit"))
        dying.start()
        _wait_until(lambda: single.in_flight >= 1)
        waiting = threading.Thread(target=scan, args=("waits", "none"))
        waiting.start()
        dying.join(20)
        waiting.join(20)
        assert getattr(results["dies"], "failure", None) is FailureKind.CRASHED
        assert getattr(results["waits"], "ok", False), results["waits"]


def test_a_message_whose_caller_gave_up_in_the_queue_is_not_scanned() -> None:
    # A is being scanned; B, queued behind it, gives up at once; C comes after B. Had the worker scanned B (a
    # 0.3 s nap), C would start 0.3 s after A ended.
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=20.0, start_method="fork") as single:
        assert single.scan(make_message()).ok  # lazy imports paid
        results: dict[str, object] = {}

        def scan(key: str) -> None:
            results[key] = single.scan(make_message(headers=[("X-Test-Fault", "stamp")], subject=key))

        first = threading.Thread(target=scan, args=("A",))
        first.start()
        _wait_until(lambda: single.in_flight >= 1)
        gave_up = single.scan(make_message(headers=[("X-Test-Fault", "nap")]), deadline=0.05)
        assert gave_up.failure is FailureKind.TIMEOUT and "no worker became free" in gave_up.detail
        scan("C")
        first.join(10)
        assert _stamps(results["C"])[0] - _stamps(results["A"])[1] < 200_000_000


def test_a_reply_larger_than_a_socket_buffer_arrives_whole(pool: ScanPool) -> None:
    outcome = pool.scan(make_message(headers=[("X-Test-Fault", "huge")]))
    assert outcome.report is not None and outcome.report.message.subject == "x" * 3_000_000


def test_close_answers_queued_messages_too() -> None:
    with ScanPool(FAULTY, workers=1, deadline=30.0) as single:
        results: list[object] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(single.scan(make_message(headers=[("X-Test-Fault", "sleep")])))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        _wait_until(lambda: single.in_flight >= 3)
        started = time.monotonic()
        single.close(grace=0.2)
        for thread in threads:
            thread.join(10)
        assert time.monotonic() - started < 5
        assert [getattr(r, "failure", None) for r in results] == [FailureKind.TIMEOUT] * 3
        assert all("shutting down" in getattr(r, "detail", "") for r in results)


def test_the_pool_thread_leaves_signals_to_the_program() -> None:
    # The milter waits for SIGTERM in its main thread; a pool thread that could receive it would die of it.
    before = set(threading.enumerate())
    with ScanPool(WorkerSpec(warm_up=False), workers=1, start_method="fork") as single:
        [dispatcher] = [t for t in set(threading.enumerate()) - before if t.name == "triage-pool"]
        status = Path(f"/proc/self/task/{dispatcher.native_id}/status").read_text()
        blocked = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
        assert blocked & (1 << (signal.SIGTERM - 1)) and blocked & (1 << (signal.SIGINT - 1))
        assert single.scan(make_message()).ok


def test_a_worker_can_only_name_a_cgroup_counter_for_the_pool_to_read() -> None:
    from triage.isolation import _cgroup_counter

    assert _cgroup_counter(b"/sys/fs/cgroup/system.slice/memory.events") is not None
    assert _cgroup_counter(b"/sys/fs/cgroup/memory/x/memory.oom_control") is not None
    for hostile in (b"/etc/shadow", b"/sys/fs/cgroup/../../etc/memory.events", b"/dev/zero", b"rel/memory.events"):
        assert _cgroup_counter(hostile) is None


def test_chunks_are_taken_over_and_scanned_as_one_message(pool: ScanPool) -> None:
    # The milter hands over libmilter's pieces: the pool writes them out and empties the list, so a message
    # waiting for a worker is not kept twice; the worker sees the same bytes as the joined message.
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    chunks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)]
    outcome = pool.scan_chunks(chunks)
    assert chunks == []
    whole = pool.scan(raw)
    assert outcome.report is not None and whole.report is not None
    assert outcome.report.input.sha256 == whole.report.input.sha256
    assert outcome.report.finding_ids() == whole.report.finding_ids()
    too_big = [b"x" * 600_000, b"y" * 600_000]
    assert pool.scan_chunks(too_big).failure is FailureKind.TOO_LARGE and too_big == []


@pytest.mark.parametrize("fault", ["babble", "oversize"])
def test_a_worker_that_writes_what_no_worker_writes_is_killed(fault: str) -> None:
    spec = WorkerSpec(factory="gateway._faults:make_engine", warm_up=False)
    with ScanPool(spec, workers=1, deadline=20.0, start_method="fork") as single:
        [pid] = single.worker_pids()
        outcome = single.scan(make_message(headers=[("X-Test-Fault", fault)]))
        assert outcome.failure is FailureKind.CRASHED and "signal 9" in outcome.detail, outcome
        assert outcome.seconds < 4  # killed at once, not at the end of its 5 s nap
        assert single.scan(make_message()).ok
        assert pid not in single.worker_pids()
