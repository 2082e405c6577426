"""Processes and ports of the native stack: pid files, liveness, stopping, free ports, waiting.

A pid file alone can lie (the process died and the pid was reused), so a process counts as ours
only while it is alive *and* its command line carries a marker of our stack (see ``matches``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# How often wait loops look again: short enough that `up` returns promptly once a service
# answers, long enough not to busy the two cores the services are starting on.
POLL_INTERVAL_S = 0.2


def say(message: str) -> None:
    """Progress for humans, on stderr, so stdout stays clean for `eval "$(cardwright stack up)"`."""
    print(f"stack: {message}", file=sys.stderr, flush=True)


def argv(pid: int) -> list[str]:
    """The command-line arguments of ``pid``; [] if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may itself hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def matches(args: list[str], marker: str) -> bool:
    """True if ``marker`` is one whole argument, or, for a marker ending in ":", part of one.

    Whole arguments, because one state directory may be a prefix of another's
    (/var/tmp/cardwright-stack and /var/tmp/cardwright-stack-test-x). The ":" form finds a name
    inside a process title such as "postgres: cardwright-2b3b9ca6d7: checkpointer".
    """
    if marker in args:
        return True
    return marker.endswith(":") and any(marker in arg for arg in args)


def alive(pid: int, marker: str) -> bool:
    """True while ``pid`` runs and its command line carries ``marker`` (see ``matches``)."""
    return pid > 0 and not is_zombie(pid) and matches(argv(pid), marker)


def read_pid(path: Path) -> int | None:
    """The pid on the first line of ``path`` (our pid files, PostgreSQL's postmaster.pid)."""
    try:
        first = path.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def find_processes(markers: list[str]) -> list[int]:
    """Pids of live processes whose command line carries any of ``markers``."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        args = argv(pid)
        if args and any(matches(args, m) for m in markers) and not is_zombie(pid):
            found.append(pid)
    return sorted(found)


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    """Call ``check`` until it returns True or ``timeout_s`` passes; return its last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def terminate(pid: int, marker: str, grace_s: float) -> bool:
    """SIGTERM ``pid``, wait up to ``grace_s``, then SIGKILL. True if it had to be killed."""
    if not alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not alive(pid, marker), grace_s):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    # SIGKILL cannot be ignored; a few seconds covers the kernel tearing down a large JVM.
    wait_until(lambda: not alive(pid, marker), 10.0)
    return True


def reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it was our child, so no zombie stays behind."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could bind ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as servers set it, so a port in TIME_WAIT after our own stop counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nobody listens on right now (for tests that start a stack of their own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_block(count: int, floor: int = 20000) -> int:
    """The first of ``count`` consecutive ports that are all free now, below the kernel's
    ephemeral range: a restarted server gets its port back, where a port from that range may
    meanwhile have become the local end of some client's connection."""
    try:
        ceiling = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ceiling = 32768
    rng = random.SystemRandom()
    while True:
        base = rng.randrange(floor, ceiling - count)
        if all(port_free(base + i) for i in range(count)):
            return base


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so two `stack up`/`down` never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for error messages; "" if unreadable."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
