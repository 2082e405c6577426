"""The native stack as one unit: Kafka and PostgreSQL started, checked and stopped together.

Used by ``cardwright stack`` and by the test harness (tests/conftest.py), so both start the same
thing the same way. A lock file in the state directory keeps two `up`/`down` from interleaving.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from cardwright.schema.errors import ConfigurationError
from cardwright.stack import native_kafka, native_postgres
from cardwright.stack.config import StackConfig
from cardwright.stack.procs import find_processes, locked, reap, say, terminate


@dataclass(frozen=True, slots=True)
class NativeStatus:
    kafka: native_kafka.KafkaStatus
    postgres: native_postgres.PostgresStatus

    @property
    def running(self) -> bool:
        return self.kafka.running and self.postgres.running

    @property
    def stopped(self) -> bool:
        return not self.kafka.running and not self.postgres.running


def ensure_state_dir(config: StackConfig) -> None:
    """Create the state directory, or check that an existing one is really ours.

    It may sit in a shared, world-writable directory (/var/tmp): a symlink or a directory owned
    by another user there could point our servers at someone else's files.
    """
    path = config.state_dir
    if not path.exists() and not path.is_symlink():
        # 0755: when we are root, the postgres user must be able to pass through it.
        path.mkdir(mode=0o755, parents=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"state directory {path} is not a plain directory")
    if info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"state directory {path} belongs to uid {info.st_uid}, not to us; "
            "choose another CARDWRIGHT_STATE_DIR"
        )


def up(config: StackConfig) -> None:
    """Start whatever is not running yet and wait until both services answer."""
    ensure_state_dir(config)
    with locked(config.state_dir / "stack.lock"):
        # A missing program or a busy port is reported before anything starts.
        native_kafka.preflight(config)
        native_postgres.preflight(config)
        # Kafka's JVMs start in the background while PostgreSQL is created and started.
        kafka_pids = native_kafka.start_cluster(config)
        try:
            native_postgres.start(config)
            native_postgres.wait_ready(config)
            native_kafka.wait_cluster_ready(config, kafka_pids)
        except BaseException:
            # A half-started stack would make the next `up` believe it runs: take it down.
            _stop_all(config)
            raise


def down(config: StackConfig) -> None:
    """Stop both services and anything else still running from this state directory."""
    if not config.state_dir.is_dir():
        # Never started here (or deleted by hand): only a sweep for strays is left to do.
        _sweep(config)
        say(f"nothing to stop in {config.state_dir}")
        return
    with locked(config.state_dir / "stack.lock"):
        _stop_all(config)


def _stop_all(config: StackConfig) -> None:
    kafka_pids = [n.pid for n in native_kafka.status(config).nodes if n.pid is not None]
    native_kafka.stop(config)
    for pid in kafka_pids:
        reap(pid)
    native_postgres.stop(config)
    _sweep(config)


def _sweep(config: StackConfig) -> None:
    """Stop processes of this stack that lost their pid file (e.g. the state dir was wiped)."""
    markers = process_markers(config)
    for pid in find_processes(markers):
        say(f"stopping leftover process {pid}")
        for marker in markers:
            terminate(pid, marker, grace_s=5.0)
        reap(pid)


def process_markers(config: StackConfig) -> list[str]:
    """Strings that only this stack's server processes carry on their command lines.

    The broker JVM carries its state directory in a system property, the postmaster its data
    directory, and PostgreSQL's other processes the cluster name in their titles. A log viewer
    that merely names a file in the state directory matches none of them.
    """
    return [
        native_kafka.process_marker(config),
        native_postgres.process_marker(config),
        f"{config.stack_id}:",
    ]


def status(config: StackConfig) -> NativeStatus:
    return NativeStatus(kafka=native_kafka.status(config), postgres=native_postgres.status(config))
