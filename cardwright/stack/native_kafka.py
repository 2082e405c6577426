"""The native Kafka broker: official jars from Maven Central run with ``java``, KRaft combined.

One node is both broker and controller (static quorum of one voter). Its jars are resolved once by
Maven into ``<cache>/kafka-<version>/libs``; its storage is formatted once; its data, logs and pid
file live in ``<state dir>/kafka``. ``render_server_properties`` is pure; the rest does the I/O.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cardwright.schema.errors import ConfigurationError, KafkaUnavailable
from cardwright.stack.config import KAFKA_VERSION, StackConfig
from cardwright.stack.procs import (
    alive,
    port_accepts,
    port_free,
    read_pid,
    say,
    tail,
    terminate,
    wait_until,
)

POM = Path(__file__).with_name("kafka-pom.xml")
LOG4J_CONFIG = Path(__file__).with_name("log4j2.xml")
BROKER_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

# A small heap keeps the broker friendly on a 2-core laptop or CI box; tests move little data.
# SerialGC: fewer GC threads and a faster start than G1 for a heap this size.
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")

# Maven downloads ~45 MB of jars on the first run; on a slow link that takes minutes.
RESOLVE_TIMEOUT_S = 600
# Formatting storage starts a JVM and writes two small files; it takes about a second.
FORMAT_TIMEOUT_S = 120
# A cold start takes 3-10 s on two busy cores; the margin covers a machine also running tests.
READY_TIMEOUT_S = 90.0
# A single combined node shuts down in 1-3 s; past this it is stuck and gets SIGKILL.
STOP_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log: Path


def _pid_file(config: StackConfig) -> Path:
    return config.kafka_dir / "kafka.pid"


def process_marker(config: StackConfig) -> str:
    # Every broker JVM of this stack carries -Dcardwright.stack.dir=<state dir> on its command line.
    return f"-Dcardwright.stack.dir={config.state_dir}"


def render_server_properties(config: StackConfig) -> str:
    """The broker's server.properties for ``config``: one node, one voter, localhost only."""
    data_dir = config.kafka_dir / "data"
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A static quorum of one voter: the ports may change between runs without re-formatting.
        "controller.quorum.voters": f"1@127.0.0.1:{config.controller_port}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{config.kafka_port},"
            f"CONTROLLER://127.0.0.1:{config.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{config.kafka_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every internal topic has one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # The default 50 offsets partitions make the first consumer group wait for 50 leaders.
        "offsets.topic.num.partitions": "4",
        # Groups form at once instead of waiting 3 s for more members (tests start many).
        "group.initial.rebalance.delay.ms": "0",
        # Lets tests use a short session.timeout.ms so a killed consumer is noticed in seconds.
        "group.min.session.timeout.ms": "1000",
        # cardwright creates its topics with the partitions it needs; a typo must fail loudly
        # instead of silently creating a one-partition topic.
        "auto.create.topics.enable": "false",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.partitions": "1",
    }
    header = "# Written by `cardwright stack up` on every start; edits are overwritten.\n"
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as Kafka's Uuid)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ConfigurationError(
            "Java 17 or newer is needed to run Kafka: apt-get install openjdk-17-jre-headless "
            "(or run scripts/bootstrap)"
        )
    return found


def jars_ready(config: StackConfig) -> bool:
    return (config.kafka_libs / BROKER_JAR).is_file()


def resolve_jars(config: StackConfig) -> Path:
    """Make sure Kafka's jars are in the cache; download them with Maven if not. Returns libs."""
    libs = config.kafka_libs
    if jars_ready(config):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigurationError(
            "Maven is needed once to fetch the Kafka jars: apt-get install maven "
            "(or run scripts/bootstrap)"
        )
    find_java()  # Maven itself needs Java; say so plainly rather than through Maven's error.
    say(f"fetching Apache Kafka {KAFKA_VERSION} jars with Maven into {libs}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Copy into a temporary directory and rename: an interrupted download never looks complete.
    staging = Path(tempfile.mkdtemp(prefix="libs.", dir=libs.parent))
    try:
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RESOLVE_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0 or not (staging / BROKER_JAR).is_file():
            output = (result.stdout + result.stderr).strip()[-2000:]
            raise ConfigurationError(
                f"Maven could not fetch Kafka {KAFKA_VERSION} (exit {result.returncode}); "
                f"is Maven Central reachable?\n{output}"
            )
        if libs.exists():
            shutil.rmtree(libs)
        staging.rename(libs)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    say(f"Kafka jars ready: {len(list(libs.glob('*.jar')))} jars")
    return libs


def _java_command(config: StackConfig, java: str, main: str, *args: str) -> list[str]:
    return [
        java,
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={config.kafka_dir / 'logs'}",
        process_marker(config),
        "-cp",
        f"{config.kafka_libs}/*",
        main,
        *args,
    ]


def _format_storage(config: StackConfig, java: str, properties: Path) -> None:
    data_dir = config.kafka_dir / "data"
    if (data_dir / "meta.properties").is_file():
        return
    say(f"formatting Kafka storage in {data_dir}")
    result = subprocess.run(
        _java_command(
            config,
            java,
            STORAGE_TOOL,
            "format",
            "--config",
            str(properties),
            # The "=" form: a generated id may start with "-", which argparse would take for a flag.
            f"--cluster-id={new_cluster_id()}",
        ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=FORMAT_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise ConfigurationError(f"formatting Kafka storage failed:\n{output}")


def status(config: StackConfig) -> KafkaStatus:
    pid = read_pid(_pid_file(config))
    running = pid is not None and alive(pid, process_marker(config))
    return KafkaStatus(
        running=running,
        pid=pid if running else None,
        bootstrap=config.bootstrap,
        data_dir=config.kafka_dir / "data",
        log=config.kafka_dir / "logs" / "server.log",
    )


def preflight(config: StackConfig) -> None:
    """Check everything a start needs (Java, jars, free ports) before anything is started."""
    if status(config).running:
        return
    find_java()
    resolve_jars(config)
    for port, what in (
        (config.kafka_port, "CARDWRIGHT_STACK_KAFKA_PORT"),
        (config.controller_port, "CARDWRIGHT_STACK_CONTROLLER_PORT"),
    ):
        if not port_free(port):
            raise ConfigurationError(
                f"port {port} on 127.0.0.1 is busy, so Kafka cannot listen there: stop whatever "
                f"uses it or choose another port with {what}"
            )


def start(config: StackConfig) -> int:
    """Start the broker unless it already runs; return its pid. Does not wait for readiness."""
    current = status(config)
    if current.running and current.pid is not None:
        say(f"kafka: already running (pid {current.pid}) on {config.bootstrap}")
        return current.pid
    preflight(config)
    java = find_java()
    for sub in ("data", "logs"):
        (config.kafka_dir / sub).mkdir(parents=True, exist_ok=True)
    properties = config.kafka_dir / "server.properties"
    properties.write_text(render_server_properties(config))
    _format_storage(config, java, properties)
    out = config.kafka_dir / "logs" / "kafka.out"
    say(f"kafka: starting Apache Kafka {KAFKA_VERSION} on {config.bootstrap}")
    with out.open("ab") as sink:
        process = subprocess.Popen(
            _java_command(config, java, MAIN_CLASS, str(properties)),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=config.kafka_dir,
            # Its own session: Ctrl-C in the shell that ran `stack up` does not stop the broker.
            start_new_session=True,
        )
    _pid_file(config).write_text(f"{process.pid}\n")
    # The broker outlives this process; `stack down` reaps it by pid. Forget the Popen handle
    # without a ResourceWarning about a child still running.
    process.returncode = 0
    return process.pid


def _answers_metadata(bootstrap: str) -> bool:
    # Imported here: `stack env`/`status` must work without loading librdkafka.
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("cardwright.stack.kafka_probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=quiet)
    try:
        metadata = admin.list_topics(timeout=2.0)
    except Exception:  # Any failure here just means "not ready yet".
        return False
    return bool(metadata.brokers)


def wait_ready(config: StackConfig, pid: int, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until the broker answers a metadata request; fail early if its process died."""
    marker = process_marker(config)
    started = time.monotonic()

    def ready() -> bool:
        if not alive(pid, marker):
            raise KafkaUnavailable(
                f"Kafka exited during start-up; see {config.kafka_dir / 'logs'}:\n"
                + tail(config.kafka_dir / "logs" / "kafka.out")
                + "\n"
                + tail(config.kafka_dir / "logs" / "server.log")
            )
        # A plain TCP check first: librdkafka would otherwise log every refused connection.
        return port_accepts(config.kafka_port) and _answers_metadata(config.bootstrap)

    if not wait_until(ready, timeout_s):
        raise KafkaUnavailable(
            f"Kafka did not answer on {config.bootstrap} within {timeout_s:.0f} s; "
            f"see {config.kafka_dir / 'logs' / 'server.log'}:\n"
            + tail(config.kafka_dir / "logs" / "server.log")
        )
    say(f"kafka: ready on {config.bootstrap} (pid {pid}, {time.monotonic() - started:.1f} s)")


def stop(config: StackConfig) -> None:
    current = status(config)
    pid_file = _pid_file(config)
    if not current.running or current.pid is None:
        pid_file.unlink(missing_ok=True)
        say("kafka: not running")
        return
    say(f"kafka: stopping (pid {current.pid})")
    killed = terminate(current.pid, process_marker(config), STOP_GRACE_S)
    pid_file.unlink(missing_ok=True)
    say("kafka: killed after no clean stop within 30 s" if killed else "kafka: stopped")
