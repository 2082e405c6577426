"""The native Kafka brokers: official jars from Maven Central run with ``java``, KRaft combined.

Each node is both broker and controller; with N brokers (``--brokers N``) the N nodes form a
static quorum of N voters on 127.0.0.1, each on its own ports (see ``stack.config``). Their jars
are resolved once by Maven into ``<cache>/kafka-<version>/libs``; each node's storage is
formatted once, all with one cluster id; data, logs and pid file live in ``<state dir>/kafka``
for one broker and ``<state dir>/kafka/node-<i>`` for a cluster. ``render_server_properties`` is
pure; the rest does the I/O.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from cardwright.producers.replication import replication_for
from cardwright.schema.errors import ConfigurationError, KafkaUnavailable
from cardwright.stack.config import BROKERS_FILE, KAFKA_VERSION, StackConfig, recorded_brokers
from cardwright.stack.procs import (
    alive,
    is_zombie,
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
# After its command line is gone, a JVM is torn down by the kernel within seconds.
GONE_WAIT_S = 20.0


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node: int
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log: Path


@dataclass(frozen=True, slots=True)
class KafkaStatus:
    """The brokers of a stack; ``pid``, ``data_dir`` and ``log`` are node 1's."""

    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log: Path
    nodes: tuple[NodeStatus, ...] = ()


def node_dir(config: StackConfig, node: int) -> Path:
    # One broker keeps the layout of stacks made before clusters existed.
    return config.kafka_dir if config.brokers == 1 else config.kafka_dir / f"node-{node}"


def _pid_file(config: StackConfig, node: int = 1) -> Path:
    return node_dir(config, node) / "kafka.pid"


def process_marker(config: StackConfig) -> str:
    # Every broker JVM of this stack carries -Dcardwright.stack.dir=<state dir> on its command line.
    return f"-Dcardwright.stack.dir={config.state_dir}"


def render_server_properties(config: StackConfig, node: int = 1) -> str:
    """Node ``node``'s server.properties: KRaft combined, all nodes voters, localhost only."""
    data_dir = node_dir(config, node) / "data"
    client, quorum = config.client_port(node), config.quorum_port(node)
    # Kafka's internal topics get the same replication as cardwright's (producers.replication):
    # one replica on one broker; three, two of them in sync, on a cluster of three.
    replication = replication_for(config.brokers)
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        # A static quorum: the ports may change between runs without re-formatting.
        "controller.quorum.voters": ",".join(
            f"{n}@127.0.0.1:{config.quorum_port(n)}" for n in config.nodes
        ),
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{quorum}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "offsets.topic.replication.factor": str(replication.factor),
        "transaction.state.log.replication.factor": str(replication.factor),
        "transaction.state.log.min.isr": str(replication.min_insync),
        "share.coordinator.state.topic.replication.factor": str(replication.factor),
        "share.coordinator.state.topic.min.isr": str(replication.min_insync),
        # For topics created without an explicit factor (cardwright passes its own).
        "default.replication.factor": str(replication.factor),
        "min.insync.replicas": str(replication.min_insync),
        # The default 50 offsets partitions make the first consumer group wait for 50 leaders.
        "offsets.topic.num.partitions": "4",
        # Groups form at once instead of waiting 3 s for more members (tests start many).
        "group.initial.rebalance.delay.ms": "0",
        # Lets tests use a short session.timeout.ms so a killed consumer is noticed in seconds.
        "group.min.session.timeout.ms": "1000",
        # The same for the consumer group protocol (KIP-848, CARDWRIGHT_GROUP_PROTOCOL=consumer),
        # where the broker, not the member, sets the session timeout and heartbeat interval:
        # 10 s and 2.5 s, as cardwright.wiring asks of a classic group.
        "group.consumer.min.session.timeout.ms": "1000",
        "group.consumer.session.timeout.ms": "10000",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": "2500",
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


def _java_command(
    config: StackConfig, java: str, main: str, *args: str, node: int = 1
) -> list[str]:
    return [
        java,
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={node_dir(config, node) / 'logs'}",
        process_marker(config),
        "-cp",
        f"{config.kafka_libs}/*",
        main,
        *args,
    ]


_CLUSTER_ID = re.compile(r"^cluster\.id=(.+)$", re.MULTILINE)


def cluster_id(config: StackConfig) -> str:
    """The id the cluster's storage is formatted with: that of any node formatted already (a
    node formatted alone, after a crash during `up`, must join the others), else a new one."""
    for node in config.nodes:
        meta = node_dir(config, node) / "data" / "meta.properties"
        try:
            found = _CLUSTER_ID.search(meta.read_text())
        except OSError:
            continue
        if found:
            return found.group(1).strip()
    return new_cluster_id()


def check_recorded_brokers(config: StackConfig) -> None:
    """Refuse to start N brokers over storage formatted for another quorum (its voters are fixed
    when formatted); record N for a fresh state directory."""
    recorded = recorded_brokers(config.state_dir)
    if recorded is None and (config.kafka_dir / "data" / "meta.properties").is_file():
        recorded = 1  # made before the count was recorded: always one broker
    if recorded is not None and recorded != config.brokers:
        raise ConfigurationError(
            f"{config.state_dir} holds a Kafka of {recorded} broker(s), not {config.brokers}: "
            f"use --brokers {recorded}, or `cardwright stack down --purge` first"
        )
    config.kafka_dir.mkdir(parents=True, exist_ok=True)
    (config.kafka_dir / BROKERS_FILE).write_text(f"{config.brokers}\n")


def _format_storage(
    config: StackConfig, java: str, properties: Path, node: int = 1, cluster: str | None = None
) -> None:
    data_dir = node_dir(config, node) / "data"
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
            f"--cluster-id={cluster or new_cluster_id()}",
            node=node,
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


def node_status(config: StackConfig, node: int = 1) -> NodeStatus:
    pid = read_pid(_pid_file(config, node))
    running = pid is not None and alive(pid, process_marker(config))
    return NodeStatus(
        node=node,
        running=running,
        pid=pid if running else None,
        bootstrap=f"127.0.0.1:{config.client_port(node)}",
        data_dir=node_dir(config, node) / "data",
        log=node_dir(config, node) / "logs" / "server.log",
    )


def status(config: StackConfig) -> KafkaStatus:
    nodes = tuple(node_status(config, n) for n in config.nodes)
    first = nodes[0]
    return KafkaStatus(
        running=all(n.running for n in nodes),
        pid=first.pid,
        bootstrap=config.bootstrap,
        data_dir=first.data_dir,
        log=first.log,
        nodes=nodes,
    )


def preflight(config: StackConfig, nodes: list[int] | None = None) -> None:
    """Check everything a start needs (Java, jars, free ports) before anything is started."""
    wanted = [n for n in (nodes or config.nodes) if not node_status(config, n).running]
    if not wanted:
        return
    find_java()
    resolve_jars(config)
    for node in wanted:
        for port, what in (
            (config.client_port(node), "CARDWRIGHT_STACK_KAFKA_PORT"),
            (config.quorum_port(node), "CARDWRIGHT_STACK_CONTROLLER_PORT"),
        ):
            if not port_free(port):
                raise ConfigurationError(
                    f"port {port} on 127.0.0.1 is busy, so Kafka cannot listen there: stop "
                    f"whatever uses it or choose another port with {what}"
                )


def start(config: StackConfig, node: int = 1) -> int:
    """Start broker ``node`` unless it already runs; return its pid. Does not wait for it."""
    current = node_status(config, node)
    where = current.bootstrap
    if current.running and current.pid is not None:
        say(f"kafka: {_name(config, node)}already running (pid {current.pid}) on {where}")
        return current.pid
    preflight(config, [node])
    check_recorded_brokers(config)
    java = find_java()
    home = node_dir(config, node)
    properties = _prepare(config, java, node, cluster_id(config))
    out = home / "logs" / "kafka.out"
    say(f"kafka: starting {_name(config, node)}Apache Kafka {KAFKA_VERSION} on {where}")
    with out.open("ab") as sink:
        process = subprocess.Popen(
            _java_command(config, java, MAIN_CLASS, str(properties), node=node),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=home,
            # Its own session: Ctrl-C in the shell that ran `stack up` does not stop the broker.
            start_new_session=True,
        )
    _pid_file(config, node).write_text(f"{process.pid}\n")
    # The broker outlives this process; `stack down` reaps it by pid. Forget the Popen handle
    # without a ResourceWarning about a child still running.
    process.returncode = 0
    return process.pid


def _prepare(config: StackConfig, java: str, node: int, cluster: str) -> Path:
    """Write node ``node``'s server.properties and format its storage if new; the file."""
    home = node_dir(config, node)
    for sub in ("data", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    properties = home / "server.properties"
    properties.write_text(render_server_properties(config, node))
    _format_storage(config, java, properties, node, cluster)
    return properties


def start_cluster(config: StackConfig) -> list[int]:
    """Start every broker that is not running; return their pids (node 1 first)."""
    preflight(config)
    check_recorded_brokers(config)
    if config.brokers > 1:
        # Formatting starts a JVM per node: side by side, a cluster's first start is ~10 s sooner.
        java, cluster = find_java(), cluster_id(config)
        stopped = [n for n in config.nodes if not node_status(config, n).running]
        with ThreadPoolExecutor(max_workers=config.brokers) as pool:
            list(pool.map(lambda node: _prepare(config, java, node, cluster), stopped))
    return [start(config, node) for node in config.nodes]


def _name(config: StackConfig, node: int) -> str:
    return "" if config.brokers == 1 else f"broker {node}: "


def _metadata_brokers(bootstrap: str) -> int:
    # Imported here: `stack env`/`status` must work without loading librdkafka.
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("cardwright.stack.kafka_probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=quiet)
    try:
        metadata = admin.list_topics(timeout=2.0)
    except Exception:  # Any failure here just means "not ready yet".
        return 0
    return len(metadata.brokers)


def wait_ready(
    config: StackConfig, pid: int, timeout_s: float = READY_TIMEOUT_S, node: int = 1
) -> None:
    """Wait until broker ``node`` answers and sees the whole cluster; fail early if it died."""
    wait_cluster_ready(config, {node: pid}, timeout_s)


def wait_cluster_ready(
    config: StackConfig, pids: dict[int, int] | list[int], timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Wait until every broker in ``pids`` (node -> pid; a list is nodes 1..N) answers a
    metadata request that lists all N brokers; fail early if one of them died."""
    by_node = dict(enumerate(pids, start=1)) if isinstance(pids, list) else pids
    marker = process_marker(config)
    started = time.monotonic()

    def ready() -> bool:
        for node, pid in by_node.items():
            if not alive(pid, marker):
                logs = node_dir(config, node) / "logs"
                raise KafkaUnavailable(
                    f"Kafka {_name(config, node)}exited during start-up; see {logs}:\n"
                    + tail(logs / "kafka.out")
                    + "\n"
                    + tail(logs / "server.log")
                )
        # A plain TCP check first: librdkafka would otherwise log every refused connection.
        return all(
            port_accepts(config.client_port(node))
            and _metadata_brokers(f"127.0.0.1:{config.client_port(node)}") == config.brokers
            for node in by_node
        )

    if not wait_until(ready, timeout_s):
        log = node_dir(config, min(by_node)) / "logs" / "server.log"
        raise KafkaUnavailable(
            f"Kafka did not answer on {config.bootstrap} within {timeout_s:.0f} s; "
            f"see {log}:\n" + tail(log)
        )
    pids_text = ", ".join(str(p) for p in by_node.values())
    if len(by_node) == config.brokers:
        name, where = "", config.bootstrap
    else:
        name = _name(config, min(by_node))
        where = ",".join(f"127.0.0.1:{config.client_port(n)}" for n in sorted(by_node))
    took = time.monotonic() - started
    say(f"kafka: {name}ready on {where} (pid {pids_text}, {took:.1f} s)")


def stop_node(config: StackConfig, node: int, *, quiet: bool = False) -> None:
    """Stop broker ``node`` (SIGTERM, SIGKILL after the grace) and forget its pid file."""
    current = node_status(config, node)
    pid_file = _pid_file(config, node)
    if not current.running or current.pid is None:
        pid_file.unlink(missing_ok=True)
        if not quiet:
            say(f"kafka: {_name(config, node)}not running")
        return
    say(f"kafka: {_name(config, node)}stopping (pid {current.pid})")
    pid = current.pid
    killed = terminate(pid, process_marker(config), STOP_GRACE_S)
    # A dying JVM loses its command line before it is gone, and may still write its logs and
    # indexes: a broker started on the same data meanwhile finds them torn. Wait for the end.
    wait_until(lambda: is_zombie(pid), GONE_WAIT_S)
    pid_file.unlink(missing_ok=True)
    outcome = "killed after no clean stop within 30 s" if killed else "stopped"
    say(f"kafka: {_name(config, node)}{outcome}")


def stop(config: StackConfig) -> None:
    """Stop every broker of the state directory, however many it was started with."""
    present = recorded_brokers(config.state_dir) or 1
    cluster = config if present == config.brokers else replace(config, brokers=present)
    if cluster.brokers == 1:
        stop_node(cluster, 1)
        return
    # All at once: stopped one by one, the last brokers would wait for a quorum that is gone.
    with ThreadPoolExecutor(max_workers=cluster.brokers) as pool:
        list(pool.map(lambda node: stop_node(cluster, node), cluster.nodes))
