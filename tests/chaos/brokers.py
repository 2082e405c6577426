"""Faults of a Kafka cluster (``run --brokers 3``): the partition leader, the group coordinator
and the KRaft controller killed or frozen, and a rolling restart of every broker.

Which broker to hit is asked of the cluster when the fault starts: the leader of a partition of
the events topic and the group's coordinator from the metadata, the active controller from the
voters' quorum state files (the client API does not name it in KRaft). A killed or frozen broker
stays down long enough for the cluster to notice (broker.session.timeout.ms, 9 s) and elect
another leader; producers at ``acks=all`` and members ride it out with retries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Any

from confluent_kafka.admin import AdminClient

from cardwright.stack import native_kafka
from cardwright.stack.procs import find_processes, is_zombie, port_free, reap, wait_until
from tests.chaos.history import QUIET_KAFKA
from tests.chaos.stack import ChaosStack, kill_and_reap

# The controller fences a broker that sent no heartbeat for broker.session.timeout.ms (9 s).
FENCED_AFTER_S = 9.0
# After a restart, a broker's replicas must catch up before the next broker of a rolling restart
# goes: as an operator would wait for under-replicated partitions to be 0.
IN_SYNC_TIMEOUT_S = 90.0
KILL_WAIT_S = 20.0
# On a machine at a load of 20, a stopped JVM has been seen to hold its port for over a minute.
PORT_WAIT_S = 120.0
METADATA_TIMEOUT_S = 10.0


class BrokerFaults:
    def __init__(self, stack: ChaosStack, topic: str, group: str) -> None:
        self.stack = stack
        self.config = stack.config
        self.topic = topic
        self.group = group
        self.admin = AdminClient({"bootstrap.servers": stack.bootstrap, "logger": QUIET_KAFKA})  # type: ignore[dict-item]

    # --- who is who ---------------------------------------------------------------------------

    def leader_of(self, pick: float) -> tuple[int, int]:
        """(partition, leader) for the partition of the events topic that ``pick`` chooses."""
        partitions = (
            self.admin.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)
            .topics[self.topic]
            .partitions
        )
        chosen = sorted(partitions)[min(len(partitions) - 1, int(pick * len(partitions)))]
        return chosen, partitions[chosen].leader

    def coordinator(self) -> int:
        """The group coordinator's broker: the leader of the offsets partition the group id
        hashes to (Kafka's rule: abs(Java hashCode of the id) % offsets partitions), read from
        the metadata. Not from a describe of the group: it keeps answering NOT_COORDINATOR for a
        while after its coordinator died, and librdkafka can abort the process on such an
        answer to an admin request (consumers/group_admin.py)."""
        offsets = "__consumer_offsets"
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while True:
            # While a broker is down the metadata may list no partitions or no leader yet.
            partitions = (
                self.admin.list_topics(offsets, timeout=METADATA_TIMEOUT_S)
                .topics[offsets]
                .partitions
            )
            if partitions:
                leader = int(partitions[coordinator_partition(self.group, len(partitions))].leader)
                if leader >= 0:
                    return leader
            if time.monotonic() > deadline:
                raise RuntimeError(f"coordinator: no leader for {offsets} in the metadata")
            time.sleep(0.5)

    def controller(self) -> tuple[int, int]:
        """(leader id, epoch) of the KRaft quorum: the newest view any voter has written."""
        best = (-1, -1)
        for node in self.config.nodes:
            state = native_kafka.node_dir(self.config, node) / "data" / "__cluster_metadata-0"
            with contextlib.suppress(OSError, ValueError, KeyError):
                quorum = json.loads((state / "quorum-state").read_text())
                if int(quorum["leaderEpoch"]) > best[1] and int(quorum["leaderId"]) > 0:
                    best = (int(quorum["leaderId"]), int(quorum["leaderEpoch"]))
        return best

    # --- what is done to them -----------------------------------------------------------------

    def kill(self, node: int, down_s: float) -> dict[str, Any]:
        """SIGKILL broker ``node``, leave it down ``down_s``, start it again."""
        started = time.monotonic()
        pid = native_kafka.node_status(self.config, node).pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: is_zombie(pid), KILL_WAIT_S)
            reap(pid)
        time.sleep(down_s)
        attempts = self._start(node)
        return {"node": node, "down_s": down_s, "took_s": _since(started), "attempts": attempts}

    def freeze(self, node: int, hold_s: float) -> dict[str, Any]:
        """SIGSTOP broker ``node`` for ``hold_s`` (past its session: it is fenced), SIGCONT."""
        pid = native_kafka.node_status(self.config, node).pid
        if pid is None:
            return {"skipped": f"broker {node} not running"}
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(hold_s)
        finally:
            os.kill(pid, signal.SIGCONT)
        # Woken, it finds itself fenced, re-registers and catches up its replicas.
        self.wait_in_sync()
        return {"node": node, "hold_s": hold_s}

    def restart(self, node: int) -> dict[str, Any]:
        """Stop broker ``node`` cleanly (controlled shutdown moves its leaders) and start it."""
        started = time.monotonic()
        pid = native_kafka.node_status(self.config, node).pid
        native_kafka.stop_node(self.config, node)
        if pid is not None:
            reap(pid)
        attempts = self._start(node)
        return {"node": node, "took_s": _since(started), "attempts": attempts}

    def rolling_restart(self) -> dict[str, Any]:
        """Every broker in turn, each once the cluster is fully in sync again."""
        started = time.monotonic()
        done = []
        for node in self.config.nodes:
            self.wait_in_sync()
            done.append(self.restart(node))
        self.wait_in_sync()
        return {"nodes": [d["node"] for d in done], "took_s": _since(started)}

    def controller_change(self) -> dict[str, Any]:
        """Restart the active controller; another voter takes over."""
        leader, epoch = self.controller()
        if leader < 0:
            return {"skipped": "no quorum state found"}
        result = self.restart(leader)
        new_leader, new_epoch = self.controller()
        return result | {"old": [leader, epoch], "new": [new_leader, new_epoch]}

    # --- helpers ------------------------------------------------------------------------------

    def _start(self, node: int) -> int:
        client, quorum = self.config.client_port(node), self.config.quorum_port(node)
        failed: list[str] = []
        for attempt in range(1, 4):
            if not wait_until(lambda: port_free(client) and port_free(quorum), PORT_WAIT_S):
                failed.append(f"attempt {attempt}: ports still busy: {_holders(client, quorum)}")
                self._kill_strays(node)
            pid = None
            try:
                pid = native_kafka.start(self.config, node)
                native_kafka.wait_ready(self.config, pid, node=node)
                return attempt
            except Exception as exc:
                # The whole text: a failed start carries the tails of the broker's logs, which
                # are gone with the stack once the run ends.
                failed.append(f"attempt {attempt}: {exc}")
                if pid is not None:
                    # A start that timed out may still be running: never leave it behind, or
                    # the next attempt finds its ports taken (or two JVMs share the data).
                    native_kafka.stop_node(self.config, node)
                    reap(pid)
                strays = self._kill_strays(node)
                if strays:
                    failed.append(f"attempt {attempt}: killed JVMs of broker {node}: {strays}")
                if attempt == 3:
                    raise RuntimeError(
                        f"broker {node} did not start: " + "\n".join(failed)
                    ) from exc
        return 3

    def _kill_strays(self, node: int) -> list[int]:
        """SIGKILL every JVM of broker ``node`` still running. The pid file can miss one: seen
        three times, a start reported "exited during start-up" whose JVM then held the node's
        ports through every later attempt (cluster seeds 13, 21, 31)."""
        logs = native_kafka.node_dir(self.config, node) / "logs"
        pids = find_processes([f"-Dkafka.logs.dir={logs}"])
        kill_and_reap(pids)
        return pids

    def wait_in_sync(self) -> bool:
        """Until every partition of the events topic and of the offsets topic has all replicas
        in sync (under-replicated partitions: 0)."""

        def in_sync() -> bool:
            try:
                metadata = self.admin.list_topics(timeout=METADATA_TIMEOUT_S)
            except Exception:
                return False
            if len(metadata.brokers) < self.config.brokers:
                return False
            for name in (self.topic, "__consumer_offsets"):
                topic = metadata.topics.get(name)
                if topic is None:
                    continue
                for partition in topic.partitions.values():
                    if partition.leader < 0 or len(partition.isrs) < len(partition.replicas):
                        return False
            return True

        return wait_until(in_sync, IN_SYNC_TIMEOUT_S)


def coordinator_partition(group: str, partitions: int) -> int:
    """The __consumer_offsets partition of ``group``, as Kafka computes it."""
    code = 0
    data = group.encode("utf-16-be")
    for i in range(0, len(data), 2):  # Java's String.hashCode over UTF-16 code units
        code = (31 * code + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    signed = code - (1 << 32) if code & 0x80000000 else code
    # Kafka's Utils.abs: Math.abs, except that Integer.MIN_VALUE maps to 0.
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


def _holders(*ports: int) -> str:
    """What ``ss`` says holds ``ports`` (any state, with the owning process where known)."""
    query = " or ".join(f"sport = :{port}" for port in ports)
    found = subprocess.run(
        ["ss", "-Htanp", query], capture_output=True, text=True, timeout=10, check=False
    )
    return found.stdout.strip() or found.stderr.strip() or "nothing listed"


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
