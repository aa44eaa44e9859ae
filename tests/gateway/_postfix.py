"""A throw-away Postfix and a `triage milter` for the gateway tests, entirely under one temporary directory.

Postfix gets its own config directory (main.cf, master.cf), queue and data directories, listens on 127.0.0.1 on a
free high port only, delivers every recipient of example.test to one Maildir (virtual(8), static uid/gid of the
postfix user) and nothing anywhere else (default, relay and local transports are `error`). /etc/postfix is never
touched. Postfix and the milter are started and stopped by PID; teardown checks that no process is left.

The directory is made with tempfile.mkdtemp rather than pytest's tmp_path: Postfix's daemons run as the postfix
user and must traverse the path, and pytest keeps its base directory private (0700).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTFIX = Path("/usr/sbin/postfix")
MASTER = Path("/usr/lib/postfix/sbin/master")
DOMAIN = "example.test"
_PR_SET_CHILD_SUBREAPER = 36


def available() -> str | None:
    """Why the Postfix tests cannot run here, or None."""
    if not POSTFIX.exists() or not MASTER.exists():
        return "postfix is not installed (make sysdeps)"
    if os.geteuid() != 0:
        return "starting Postfix needs root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            out.append(int(child))
            out.extend(_descendants(int(child)))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _reap(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait until `pids` are gone (reaping those reparented to us); the ones still alive."""
    end = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < end:
        for pid in list(left):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            if not _alive(pid):
                left.remove(pid)
        if left:
            time.sleep(0.05)
    return left


def survivors_of_killed_owner(script: str, *, cwd: Path, env: dict[str, str], min_family: int) -> list[int]:
    """Run `script` (it prints "scanning" once its pool holds a stuck message), wait until it has at least
    `min_family` descendants, SIGKILL it alone, and return the descendants still alive 10 s later.

    Whatever happens, nothing started here outlives the call.
    """
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE)
    family: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"scanning"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(family) < min_family:
            time.sleep(0.5)
            family = _descendants(proc.pid)
        assert len(family) >= min_family, f"only {len(family)} descendant(s)"
        time.sleep(1.0)  # the stuck message is inside a worker now
        proc.kill()
        proc.wait(timeout=10)
        return _reap(family, 10.0)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(family, 5.0)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 5.0) -> list[int]:
    """Stop `proc` and everything under it, by PID; returns PIDs that would not go (killed with SIGKILL)."""
    family = _descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    stubborn = _reap(family, timeout)
    for pid in stubborn:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return _reap(stubborn, 2.0)


@dataclass
class Postfix:
    base: Path
    port: int
    with_milter: bool = True  # False: the same Postfix without smtpd_milters (the benchmark's baseline)
    # A second smtpd without the milter that queues first and relays to `port` (content_filter): it stands in for
    # the sending MTA, so a 4xx from the milter side leaves the message deferred in this Postfix's queue.
    front_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.base / "conf"

    @property
    def queue(self) -> Path:
        return self.base / "queue"

    @property
    def maildir(self) -> Path:
        return self.base / "mail" / "box"

    @property
    def milter_socket(self) -> Path:
        return self.base / "milter.sock"

    def log(self) -> str:
        path = self.base / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def write_config(self) -> None:
        user = pwd.getpwnam("postfix")
        for sub in ("conf", "queue", "data", "mail"):
            (self.base / sub).mkdir(exist_ok=True)
        os.chown(self.base / "data", user.pw_uid, user.pw_gid)
        os.chown(self.base / "mail", user.pw_uid, user.pw_gid)
        main = f"""
compatibility_level = 3.6
config_directory = {self.conf}
queue_directory = {self.queue}
data_directory = {self.base / "data"}
command_directory = /usr/sbin
daemon_directory = {MASTER.parent}
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.base / "postfix.log"}
maillog_file_prefixes = {self.base}
myhostname = mx.triage.test
mydomain = triage.test
myorigin = triage.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.base / "mail"}
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{user.pw_uid}
virtual_gid_maps = static:{user.pw_gid}
virtual_mailbox_limit = 0
default_transport = error:no outbound delivery in tests
relay_transport = error:no outbound delivery in tests
local_transport = error:no local delivery in tests
alias_maps =
alias_database =
message_size_limit = 67108864
smtpd_milters = {f"unix:{self.milter_socket}" if self.with_milter else ""}
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = 30s
milter_content_timeout = 60s
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
queue_run_delay = 300s
"""
        master = f"""
127.0.0.1:{self.port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
        if self.front_port is not None:
            # The relay client needs another name than the gateway smtpd's, or it sees mail "loop back to myself".
            master += f"""
127.0.0.1:{self.front_port} inet n - n - - smtpd -o smtpd_milters= -o content_filter=smtp:[127.0.0.1]:{self.port}
smtp      unix  -       -       n       -       -       smtp -o myhostname=front.triage.test
"""
        (self.conf / "main.cf").write_text(main)
        (self.conf / "master.cf").write_text(master)

    def start(self) -> None:
        self.write_config()
        env = {**os.environ, "MAIL_CONFIG": str(self.conf)}
        # `postfix check` creates the queue directories with the ownership and modes Postfix insists on.
        subprocess.run([str(POSTFIX), "-c", str(self.conf), "check"], check=True, env=env, capture_output=True)
        self.proc = subprocess.Popen(
            [str(MASTER), "-c", str(self.conf), "-d"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.recv(100)
                return
            time.sleep(0.1)
        raise RuntimeError(f"Postfix did not start:\n{self.log()[-3000:]}")

    def stop(self) -> list[int]:
        return _stop(self.proc) if self.proc is not None else []

    # -- what happened to the mail ----------------------------------------------------------------------------
    def delivered(self, marker: bytes, timeout: float = 15.0) -> bytes | None:
        """The delivered message containing `marker`, waiting up to `timeout`; None if none arrived."""
        end = time.monotonic() + timeout
        while True:
            for path in (self.maildir / "new").glob("*") if (self.maildir / "new").exists() else ():
                data = path.read_bytes()
                if marker in data:
                    return data
            if time.monotonic() >= end:
                return None
            time.sleep(0.1)

    def held(self, marker: bytes) -> bool:
        hold = self.queue / "hold"
        return any(marker in path.read_bytes() for path in hold.glob("*")) if hold.exists() else False

    def count_delivered(self) -> int:
        new = self.maildir / "new"
        return len(list(new.glob("*"))) if new.exists() else 0

    def count_held(self) -> int:
        hold = self.queue / "hold"
        return sum(1 for p in hold.rglob("*") if p.is_file()) if hold.exists() else 0

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=120)

    def front_smtp(self) -> smtplib.SMTP:
        assert self.front_port is not None
        return smtplib.SMTP("127.0.0.1", self.front_port, timeout=120)

    def _tool(self, *args: str) -> str:
        env = {**os.environ, "MAIL_CONFIG": str(self.conf)}
        done = subprocess.run(list(args), env=env, capture_output=True, check=True, timeout=60)
        return done.stdout.decode("utf-8", "replace")

    def queue_entries(self) -> list[dict[str, object]]:
        """`postqueue -j`: one dict per queued message (queue_name: incoming, active, deferred, hold...)."""
        import json

        out = self._tool("/usr/sbin/postqueue", "-c", str(self.conf), "-j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queued_headers(self, queue_id: str) -> str:
        """The headers of one queued message (`postcat -h`), or "" if it left the queue meanwhile."""
        try:
            return self._tool("/usr/sbin/postcat", "-c", str(self.conf), "-h", "-q", queue_id)
        except subprocess.CalledProcessError:
            return ""

    def flush(self) -> None:
        """`postqueue -f`: retry every deferred message now, whatever its back-off time."""
        self._tool("/usr/sbin/postqueue", "-c", str(self.conf), "-f")


@dataclass
class Milter:
    """A `triage milter` subprocess for a Postfix, with a site configuration of its own."""

    postfix: Postfix
    site: str
    factory: str | None = "gateway._faults:make_engine"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def start(self) -> None:
        site_file = self.postfix.base / "site.toml"
        site_file.write_text(self.site)
        self.log_path = self.postfix.base / f"milter-{time.monotonic_ns()}.log"
        cmd = [
            sys.executable,
            "-m",
            "triage.frontends.cli",
            "milter",
            "--socket",
            f"unix:{self.postfix.milter_socket}",
            "--socket-mode",
            "666",
            "--config",
            str(site_file),
        ]
        if self.factory:
            cmd += ["--engine-factory", self.factory]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if b'"event": "start"' in self.log_path.read_bytes() and self.postfix.milter_socket.exists():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the milter did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The scanning workers: the milter's grandchildren (its fork server's children)."""
        assert self.proc is not None
        return [pid for pid in _descendants(self.proc.pid) if pid not in _direct_children(self.proc.pid)]

    def stop(self) -> list[int]:
        return _stop(self.proc) if self.proc is not None else []


def _direct_children(pid: int) -> set[int]:
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out.update(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
    return out


@contextlib.contextmanager
def running_postfix(*, with_milter: bool = True, front: bool = False) -> Iterator[Postfix]:
    # Postfix's daemons outlive their master by a moment; as a subreaper we reap them instead of leaving zombies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    base = Path(tempfile.mkdtemp(prefix="triage-postfix-"))
    base.chmod(0o755)
    postfix = Postfix(base=base, port=free_port(), with_milter=with_milter, front_port=free_port() if front else None)
    try:
        postfix.start()
        yield postfix
    finally:
        left = postfix.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"Postfix processes left behind: {left}"
