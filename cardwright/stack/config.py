"""Where the local stack lives and listens: state directory, ports, cache, mode.

Everything is read from environment variables once, into a frozen ``StackConfig``; the rest of
the stack only reads that value. Pure: nothing here starts, probes or writes anything.

    CARDWRIGHT_STATE_DIR             data, logs and pid files   (default /var/tmp/cardwright-stack)
    CARDWRIGHT_STACK_KAFKA_PORT      Kafka client listener      (default 29092)
    CARDWRIGHT_STACK_CONTROLLER_PORT KRaft controller listener  (default Kafka port + 1)
    CARDWRIGHT_STACK_POSTGRES_PORT   PostgreSQL                 (default 25432)
    CARDWRIGHT_STACK_MODE            auto | native | docker     (default auto)
    CARDWRIGHT_STACK_BROKERS         Kafka brokers, 1 or more   (default: as recorded, else 1)
    CARDWRIGHT_CACHE_DIR             Kafka jars                 (default ~/.cache/cardwright)

With N brokers, broker i (1..N) listens on the Kafka port + 2(i-1) for clients and on the
controller port + 2(i-1) for the KRaft quorum: 29092/29093, 29094/29095, 29096/29097 by default.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cardwright.schema.errors import ConfigurationError

# The Kafka release the native broker runs. Keep equal to kafka.version in kafka-pom.xml and to
# the image tag in compose.yaml.
KAFKA_VERSION = "4.1.1"

# Away from the usual 9092/5432 so a system Kafka or PostgreSQL does not collide with the stack;
# these match the defaults in cardwright.settings.
DEFAULT_KAFKA_PORT = 29092
DEFAULT_POSTGRES_PORT = 25432

# Under /var/tmp rather than $HOME: when run as root, PostgreSQL runs as the unprivileged
# `postgres` user, which cannot enter root's home (mode 700). /var/tmp survives reboots, so the
# stack's data does too, and is still plainly throwaway. The path is predictable in a shared
# directory, so native.up refuses a state directory that is a symlink or owned by someone else.
DEFAULT_STATE_DIR = "/var/tmp/cardwright-stack"  # noqa: S108

# The role and database the stack creates; the role is a superuser because tests create and drop
# databases with it. The throwaway cluster trusts connections from 127.0.0.1, so no password.
DB_USER = "cardwright"
DB_NAME = "cardwright"

# A state directory remembers how many brokers it holds (a cluster's quorum is fixed when its
# storage is formatted), so `stack env`/`status` without --brokers describe the cluster that is
# there. The file lives in the Kafka directory: `down --purge` deletes it with the data.
BROKERS_FILE = "brokers"
# Ports of consecutive brokers are this far apart: one client and one controller port each.
PORT_STRIDE = 2


class Mode(StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    DOCKER = "docker"


@dataclass(frozen=True, slots=True)
class StackConfig:
    state_dir: Path
    kafka_port: int
    controller_port: int
    postgres_port: int
    cache_dir: Path
    mode: Mode = Mode.AUTO
    brokers: int = 1

    @property
    def nodes(self) -> range:
        """The KRaft node ids of the brokers: 1..N."""
        return range(1, self.brokers + 1)

    def client_port(self, node: int) -> int:
        return self.kafka_port + PORT_STRIDE * (node - 1)

    def quorum_port(self, node: int) -> int:
        return self.controller_port + PORT_STRIDE * (node - 1)

    def ports(self) -> list[int]:
        """Every port the stack listens on: each broker's two, then PostgreSQL's."""
        kafka = [p for n in self.nodes for p in (self.client_port(n), self.quorum_port(n))]
        return [*kafka, self.postgres_port]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.client_port(n)}" for n in self.nodes)

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.postgres_port}/{DB_NAME}"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def kafka_libs(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def stack_id(self) -> str:
        """A short name for this stack, shown in PostgreSQL's process titles (cluster_name).

        Derived from the state directory, so two stacks on one machine never share it and the
        processes of one stack can be found by name even after their parent is gone.
        """
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()
        return f"cardwright-{digest[:10]}"

    def exports(self) -> list[str]:
        """Shell lines that point cardwright (and the tests) at this stack."""
        return [
            f"export CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS={self.bootstrap}",
            f"export CARDWRIGHT_DATABASE_URL={self.database_url}",
        ]


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise ConfigurationError(f"{name}={value} is outside 1..65535")
    return value


def default_cache_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME", "~")).expanduser() / ".cache"
    return base / "cardwright"


def recorded_brokers(state_dir: Path) -> int | None:
    """The broker count a state directory's cluster was made with, if it records one."""
    try:
        return int((state_dir / "kafka" / BROKERS_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _brokers(env: Mapping[str, str], state_dir: Path) -> int:
    raw = env.get("CARDWRIGHT_STACK_BROKERS")
    if raw is None or raw == "":
        return recorded_brokers(state_dir) or 1
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"CARDWRIGHT_STACK_BROKERS={raw!r} is not a number") from None
    if value < 1:
        raise ConfigurationError(f"CARDWRIGHT_STACK_BROKERS={value}: at least one broker")
    return value


def check_ports(config: StackConfig) -> None:
    """Every broker's ports and PostgreSQL's must differ and be valid port numbers."""
    ports = config.ports()
    if len(set(ports)) != len(ports) or max(ports) > 65535:
        raise ConfigurationError(
            f"stack ports must differ and stay below 65536: kafka {config.kafka_port}, "
            f"controller {config.controller_port}, postgres {config.postgres_port}, "
            f"{config.brokers} broker(s) {PORT_STRIDE} ports apart"
        )


def load_config(env: Mapping[str, str] | None = None) -> StackConfig:
    """The stack configuration from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    kafka_port = _port(env, "CARDWRIGHT_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT)
    controller_port = _port(env, "CARDWRIGHT_STACK_CONTROLLER_PORT", kafka_port + 1)
    postgres_port = _port(env, "CARDWRIGHT_STACK_POSTGRES_PORT", DEFAULT_POSTGRES_PORT)
    raw_mode = env.get("CARDWRIGHT_STACK_MODE") or Mode.AUTO.value
    try:
        mode = Mode(raw_mode)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise ConfigurationError(
            f"CARDWRIGHT_STACK_MODE={raw_mode!r}: choose one of {choices}"
        ) from None
    state_dir = Path(env.get("CARDWRIGHT_STATE_DIR") or DEFAULT_STATE_DIR).expanduser()
    cache_raw = env.get("CARDWRIGHT_CACHE_DIR")
    cache_dir = Path(cache_raw).expanduser() if cache_raw else default_cache_dir(env)
    config = StackConfig(
        # Absolute, so pid checks and process titles name the same path whatever the cwd.
        state_dir=state_dir.absolute(),
        kafka_port=kafka_port,
        controller_port=controller_port,
        postgres_port=postgres_port,
        cache_dir=cache_dir.absolute(),
        mode=mode,
        brokers=_brokers(env, state_dir.absolute()),
    )
    check_ports(config)
    return config
