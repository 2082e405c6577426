"""The throwaway PostgreSQL cluster: Debian's ``initdb``/``pg_ctl``, data in the state directory.

initdb and postgres refuse to run as root, so when we are root every server command runs as the
unprivileged ``postgres`` user (``runuser``), which then owns ``<state dir>/postgres``. The cluster
listens on 127.0.0.1 only, trusts local connections (it holds nothing but test data), and has a
superuser role and a database both named ``cardwright``.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cardwright.schema.errors import ConfigurationError, DatabaseUnavailable
from cardwright.stack.config import DB_NAME, DB_USER, StackConfig
from cardwright.stack.procs import (
    alive,
    find_processes,
    port_free,
    read_pid,
    say,
    tail,
    terminate,
    wait_until,
)

# Debian installs each major version under its own directory; the newest one wins.
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"

# initdb writes ~40 MB; with --no-sync it takes a few seconds.
INITDB_TIMEOUT_S = 180
# pg_ctl -w waits this long for the server to accept connections (crash recovery included).
START_TIMEOUT_S = 60
# A fast shutdown of an idle test cluster takes well under a second; 30 s means it is stuck.
STOP_TIMEOUT_S = 30
# After pg_ctl says "started", the first connection normally succeeds at once.
READY_TIMEOUT_S = 30.0

# Appended to postgresql.conf once, after initdb. Port, address and socket directory are passed
# on each start instead, so they follow the environment.
SERVER_SETTINGS = """
# --- cardwright stack: a throwaway cluster for development and tests ---
# Tests run many consumers, each with a connection pool.
max_connections = 300
# Durability against a machine crash is not wanted here; against a process crash it is kept
# (the WAL is still written before commit returns), which is what crash tests exercise.
fsync = off
full_page_writes = off
log_min_messages = warning
log_connections = off
"""


@dataclass(frozen=True, slots=True)
class PostgresStatus:
    running: bool
    pid: int | None
    port: int
    data_dir: Path
    log: Path


def find_bindir() -> Path:
    """The directory with initdb and pg_ctl: CARDWRIGHT_STACK_PG_BINDIR, Debian's, or PATH."""
    override = os.environ.get("CARDWRIGHT_STACK_PG_BINDIR")
    candidates = [Path(override)] if override else []
    if DEBIAN_PG_ROOT.is_dir():
        versions = [p for p in DEBIAN_PG_ROOT.iterdir() if p.name.isdigit()]
        for version in sorted(versions, key=lambda p: int(p.name), reverse=True):
            candidates.append(version / "bin")
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ConfigurationError(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found: apt-get install postgresql "
        "(or run scripts/bootstrap, or set CARDWRIGHT_STACK_PG_BINDIR)"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None means "as ourselves"."""
    if not _as_root():
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ConfigurationError(
            f"running as root, the stack runs PostgreSQL as the {SERVER_USER!r} user, which does "
            "not exist: apt-get install postgresql"
        ) from None


def _run(
    config: StackConfig, argv: list[str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run a server program, as the postgres user when we are root."""
    user = _server_user()
    command = ["runuser", "-u", user.pw_name, "--", *argv] if user else argv
    return subprocess.run(
        command,
        # The postgres user may not be allowed into our working directory (e.g. /root).
        cwd=config.postgres_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _data_dir(config: StackConfig) -> Path:
    return config.postgres_dir / "data"


def _socket_dir(config: StackConfig) -> Path:
    return config.postgres_dir / "socket"


def process_marker(config: StackConfig) -> str:
    """An argument of the postmaster: pg_ctl starts it as ``postgres -D <data dir> ...``."""
    return str(_data_dir(config))


def _log(config: StackConfig) -> Path:
    return config.postgres_dir / "postgres.log"


def _prepare_dirs(config: StackConfig) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.postgres_dir.mkdir(exist_ok=True)
    _socket_dir(config).mkdir(exist_ok=True)
    user = _server_user()
    if user is None:
        return
    for path in (config.postgres_dir, _socket_dir(config)):
        os.chown(path, user.pw_uid, user.pw_gid)
    probe = _run(config, ["test", "-w", str(config.postgres_dir)], timeout_s=10)
    if probe.returncode != 0:
        raise ConfigurationError(
            f"the {SERVER_USER!r} user cannot reach {config.postgres_dir}: a parent directory "
            "is closed to it (root's home is). Choose another CARDWRIGHT_STATE_DIR, e.g. under "
            "/var/tmp"  # noqa: S108 - advice in a message, not a path we open
        )


def _initdb(config: StackConfig, bindir: Path) -> None:
    data = _data_dir(config)
    if (data / "PG_VERSION").is_file():
        return
    if data.exists():
        # A half-made cluster from an interrupted initdb; it holds nothing worth keeping.
        shutil.rmtree(data)
    say(f"postgres: creating a cluster in {data}")
    result = _run(
        config,
        [
            str(bindir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            DB_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            # The C locale exists everywhere, so initdb never fails on a missing locale.
            "--locale",
            "C",
            "--no-sync",
        ],
        timeout_s=INITDB_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise ConfigurationError(f"initdb failed:\n{(result.stdout + result.stderr).strip()}")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_SETTINGS)
        # Shown in every server process title, so `stack down` can find this cluster's processes.
        conf.write(f"cluster_name = '{config.stack_id}'\n")


def status(config: StackConfig) -> PostgresStatus:
    data = _data_dir(config)
    pid = read_pid(data / "postmaster.pid")
    running = pid is not None and alive(pid, process_marker(config))
    return PostgresStatus(
        running=running,
        pid=pid if running else None,
        port=config.postgres_port,
        data_dir=data,
        log=_log(config),
    )


def preflight(config: StackConfig) -> None:
    """Check everything a start needs (programs, free port, reachable directory) up front."""
    if status(config).running:
        return
    find_bindir()
    if not port_free(config.postgres_port):
        raise ConfigurationError(
            f"port {config.postgres_port} on 127.0.0.1 is busy, so PostgreSQL cannot listen "
            "there: stop whatever uses it or choose another port with "
            "CARDWRIGHT_STACK_POSTGRES_PORT"
        )
    _prepare_dirs(config)


def start(config: StackConfig) -> int:
    """Create the cluster once and start it unless it runs; return the postmaster's pid."""
    current = status(config)
    if current.running and current.pid is not None:
        say(f"postgres: already running (pid {current.pid}) on 127.0.0.1:{config.postgres_port}")
        return current.pid
    preflight(config)
    bindir = find_bindir()
    _initdb(config, bindir)
    say(f"postgres: starting PostgreSQL ({bindir.parent.name}) on 127.0.0.1:{config.postgres_port}")
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-p {config.postgres_port}",
            f"-k {shlex.quote(str(_socket_dir(config)))}",
        ]
    )
    result = _run(
        config,
        [
            str(bindir / "pg_ctl"),
            "--pgdata",
            str(_data_dir(config)),
            "--log",
            str(_log(config)),
            "--wait",
            "--timeout",
            str(START_TIMEOUT_S),
            "-o",
            options,
            "start",
        ],
        # pg_ctl's own timeout ends first; ours only guards against pg_ctl itself hanging.
        timeout_s=START_TIMEOUT_S + 30,
    )
    if result.returncode != 0:
        raise DatabaseUnavailable(
            f"PostgreSQL did not start: {(result.stdout + result.stderr).strip()}\n"
            f"{_log(config)}:\n{tail(_log(config))}"
        )
    pid = status(config).pid
    if pid is None:
        raise DatabaseUnavailable(f"PostgreSQL started but left no pid; see {_log(config)}")
    return pid


def _admin_conninfo(config: StackConfig, dbname: str) -> str:
    return f"host=127.0.0.1 port={config.postgres_port} user={DB_USER} dbname={dbname}"


def wait_ready(config: StackConfig, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until ``SELECT 1`` works, and create the ``cardwright`` database if it is missing."""
    import psycopg  # Imported here: `stack env` and `status` need no database driver.
    from psycopg import sql

    started = time.monotonic()
    last_error: list[str] = [""]

    def answers() -> bool:
        try:
            with psycopg.connect(_admin_conninfo(config, "postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            last_error[0] = str(exc).strip()
            return False
        return True

    if not wait_until(answers, timeout_s):
        raise DatabaseUnavailable(
            f"PostgreSQL did not answer on 127.0.0.1:{config.postgres_port} within "
            f"{timeout_s:.0f} s: {last_error[0]}; see {_log(config)}"
        )
    with psycopg.connect(_admin_conninfo(config, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
            say(f"postgres: created database {DB_NAME!r}")
    pid = status(config).pid
    elapsed = time.monotonic() - started
    say(f"postgres: ready on 127.0.0.1:{config.postgres_port} (pid {pid}, {elapsed:.1f} s)")


def stop(config: StackConfig) -> None:
    current = status(config)
    if not current.running or current.pid is None:
        say("postgres: not running")
        return
    say(f"postgres: stopping (pid {current.pid})")
    bindir = find_bindir()
    result = _run(
        config,
        [
            str(bindir / "pg_ctl"),
            "--pgdata",
            str(_data_dir(config)),
            "--mode",
            "fast",
            "--wait",
            "--timeout",
            str(STOP_TIMEOUT_S),
            "stop",
        ],
        timeout_s=STOP_TIMEOUT_S + 30,
    )
    if result.returncode != 0 and alive(current.pid, process_marker(config)):
        say("postgres: no clean stop; killing it")
        terminate(current.pid, process_marker(config), grace_s=5.0)
    # Server processes whose postmaster is gone still carry the cluster name in their titles.
    title = f"{config.stack_id}:"
    for pid in find_processes([title]):
        terminate(pid, title, grace_s=5.0)
    say("postgres: stopped")
