"""Kafka security pass-through, and secrets kept out of every log line and every command's output.

A dedicated broker (the native stack's module) gets a second listener, SASL_PLAINTEXT with the
PLAIN mechanism and one user whose password is a sentinel. The consumer reaches it only through
CARDWRIGHT_KAFKA_* variables and a properties file, with the sentinel also standing as the
password of its database URL; the sentinels must appear in none of its log lines, even with
librdkafka's configuration and security debugging on. A wrong password must fail to
authenticate, which shows that the settings really reach librdkafka.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from sqlalchemy.engine import make_url

from cardwright.schema.errors import ConfigurationError
from cardwright.stack import native_kafka
from cardwright.stack.config import StackConfig, default_cache_dir
from cardwright.stack.procs import free_port
from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import upgrade
from tests.integration.support import consumer_env, publish, read_state, stop
from tests.integration.workload import conversation_events, expected_hashes
from tests.llm_server import LlmServer, Reply, register_entry_point

pytestmark = pytest.mark.slow

KAFKA_SENTINEL = "kafka-Sentinel-" + uuid.uuid4().hex[:12]
DB_SENTINEL = "db-Sentinel-" + uuid.uuid4().hex[:12]
LLM_SENTINEL = "sk-Sentinel-" + uuid.uuid4().hex[:12]
SASL_USER = "alice"
# A consumer on the local stack finishes in seconds; a failed SASL handshake shows in one.
CONSUME_TIMEOUT_S = 180
AUTH_FAILURE_WAIT_S = 60


@dataclass(frozen=True)
class SaslBroker:
    plain: str  # for the test's own admin and producer
    sasl: str  # for the consumer under test


@pytest.fixture
def sasl_broker(stack_state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SaslBroker]:
    config = StackConfig(
        state_dir=stack_state_dir,
        kafka_port=free_port(),
        controller_port=free_port(),
        postgres_port=free_port(),
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
    )
    try:
        native_kafka.find_java()
        native_kafka.resolve_jars(config)
    except ConfigurationError as exc:
        pytest.skip(f"no native Kafka for a dedicated SASL broker: {exc}")
    sasl_port = free_port()
    render = native_kafka.render_server_properties

    def with_sasl_listener(cfg: StackConfig, node: int = 1) -> str:
        # Later keys win in a Java properties file: these replace the listener settings.
        plain = f"127.0.0.1:{cfg.client_port(node)}"
        controller = f"127.0.0.1:{cfg.quorum_port(node)}"
        sasl = f"127.0.0.1:{sasl_port}"
        return render(cfg, node) + "".join(
            f"{key}={value}\n"
            for key, value in {
                "listeners": f"PLAINTEXT://{plain},SASL_PLAINTEXT://{sasl},CONTROLLER://{controller}",
                "advertised.listeners": f"PLAINTEXT://{plain},SASL_PLAINTEXT://{sasl}",
                "listener.security.protocol.map": (
                    "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
                ),
                "sasl.enabled.mechanisms": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'user_{SASL_USER}="{KAFKA_SENTINEL}";'
                ),
            }.items()
        )

    monkeypatch.setattr(native_kafka, "render_server_properties", with_sasl_listener)
    try:
        pid = native_kafka.start(config)
        native_kafka.wait_ready(config, pid)
        yield SaslBroker(plain=config.bootstrap, sasl=f"127.0.0.1:{sasl_port}")
    finally:
        native_kafka.stop(config)


def create_topics(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=4), NewTopic(f"{topic}.dlq", num_partitions=1)]
    )
    for future in futures.values():
        future.result(timeout=30)


def run_consumer(env: dict[str, str], log: Path, stop_when: str | None = None) -> int:
    """Run `cardwright consume --until-idle 2` (the test made the topics); when ``stop_when``
    is given, stop it (SIGTERM) as soon as that text shows in its log, or after a while."""
    command = [sys.executable, "-m", "cardwright", "consume", "--until-idle", "2"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--no-create-topic"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        if stop_when is not None:
            deadline = time.monotonic() + AUTH_FAILURE_WAIT_S
            while stop_when not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            stop(process)
        return process.wait(timeout=CONSUME_TIMEOUT_S)


def test_sasl_settings_reach_librdkafka_and_no_secret_reaches_a_log_line(
    sasl_broker: SaslBroker, database_url: str, tmp_path: Path
) -> None:
    topic, group = f"sasl-{uuid.uuid4().hex[:8]}", f"g-sasl-{uuid.uuid4().hex[:8]}"
    create_topics(sasl_broker.plain, topic)
    events = conversation_events(seed=41, users=1)
    publish(sasl_broker.plain, topic, events)
    engine = make_engine(database_url)
    upgrade(engine)
    # The shared test cluster trusts local connections, so the password is carried, not checked.
    secret_url = make_url(database_url).set(password=DB_SENTINEL)
    properties = tmp_path / "client.properties"
    properties.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=PLAIN\n"
        f"sasl.username={SASL_USER}\n"
        f"sasl.password={KAFKA_SENTINEL}\n"
    )
    noisy = {
        "CARDWRIGHT_LOG_LEVEL": "DEBUG",
        "CARDWRIGHT_LOG_FORMAT": "json",
        "CARDWRIGHT_KAFKA_DEBUG": "conf,security,broker",
    }
    env = consumer_env(
        sasl_broker.sasl,
        secret_url.render_as_string(hide_password=False),
        topic,
        group,
        CARDWRIGHT_KAFKA_PROPERTIES_FILE=str(properties),
        **noisy,
    )

    good_log = tmp_path / "good.log"
    assert run_consumer(env, good_log) == 0, good_log.read_text()[-3000:]
    current = {(u, t): h for (u, t, h) in read_state(engine).current}
    assert current == expected_hashes(events), "the SASL consumer derived every topic"

    # A wrong password from a CARDWRIGHT_KAFKA_* variable overrides the file and is refused.
    wrong = {**env, "CARDWRIGHT_KAFKA_SASL_PASSWORD": KAFKA_SENTINEL + "-wrong"}
    bad_log = tmp_path / "bad.log"
    run_consumer(wrong, bad_log, stop_when="Authentication failed")
    bad_text = bad_log.read_text()
    assert "Authentication failed" in bad_text, bad_text[-3000:]

    for log in (good_log, bad_log):
        text = log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert len(lines) > 10, "debug logging produced lines to check"
        nameless = [line for line in lines if not line.get("instance")]
        assert not nameless, f"every line names the instance: {nameless[:3]}"
        for sentinel in (KAFKA_SENTINEL, DB_SENTINEL):
            assert sentinel not in text, f"{sentinel[:5]}... leaked into {log.name}"
    engine.dispose()


# Every secret-looking Kafka property a deployment may set; on the plaintext test listener
# librdkafka carries them without using them, which is all this test needs.
SECRET_PROPERTIES = {
    "CARDWRIGHT_KAFKA_SASL_PASSWORD": KAFKA_SENTINEL + "-sasl",
    "CARDWRIGHT_KAFKA_SSL_KEY_PASSWORD": KAFKA_SENTINEL + "-key",
    "CARDWRIGHT_KAFKA_SSL_KEYSTORE_PASSWORD": KAFKA_SENTINEL + "-keystore",
    "CARDWRIGHT_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": KAFKA_SENTINEL + "-oauth",
}
# --help of a command starts the interpreter and nothing else: seconds, even on a busy machine.
HELP_TIMEOUT_S = 120


def command_paths() -> list[list[str]]:
    """Every command and subcommand of the CLI, as argument lists (so new ones are covered)."""
    import typer

    from cardwright.cli import app

    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):  # a group's
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


def test_no_command_prints_a_secret(
    kafka_bootstrap: str, database_url: str, topic_name: str, group_id: str, tmp_path: Path
) -> None:
    """With sentinel Kafka secrets, a database URL whose password is a sentinel and a sentinel
    model API key, at DEBUG, neither `--help` nor a real run of any command (the llm extractor's
    included, against a server that echoes the key in an error) shows a sentinel."""
    secret_url = make_url(database_url).set(password=DB_SENTINEL)
    model_server = LlmServer().start()
    env = consumer_env(
        kafka_bootstrap,
        secret_url.render_as_string(hide_password=False),
        topic_name,
        group_id,
        CARDWRIGHT_LOG_LEVEL="DEBUG",
        CARDWRIGHT_LLM_API_KEY=LLM_SENTINEL,
        CARDWRIGHT_LLM_BASE_URL=model_server.base_url,
        CARDWRIGHT_LLM_MODEL="sentinel-model",
        **SECRET_PROPERTIES,
    )
    entry_points = register_entry_point(str(tmp_path / "entry-points"))
    env["PYTHONPATH"] = os.pathsep.join([entry_points, *sys.path])
    cardwright = [sys.executable, "-m", "cardwright"]

    helps = [
        (path, subprocess.Popen([*cardwright, *path, "--help"], env=env, stdout=PIPE, stderr=PIPE))
        for path in command_paths()
    ]
    outputs: dict[str, str] = {}
    for path, process in helps:
        out, err = process.communicate(timeout=HELP_TIMEOUT_S)
        assert process.returncode == 0, (path, err)
        outputs[" ".join([*path, "--help"])] = (out + err).decode()

    events = conversation_events(seed=43, users=1)
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(e.to_json_bytes() + b"\n" for e in events))
    some = events[0]

    def run_with(environment: dict[str, str], *args: str, expect: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [*cardwright, *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=CONSUME_TIMEOUT_S,
        )
        text = done.stdout + done.stderr
        assert done.returncode in expect, (args, text[-3000:])
        return text

    def run(*args: str, expect: tuple[int, ...] = (0,)) -> str:
        outputs[" ".join(args)] = run_with(env, *args, expect=expect)
        return outputs[" ".join(args)]

    run("migrate", "--sql")
    run("migrate")
    run("migrate", "--database-url", secret_url.render_as_string(hide_password=False))
    run("publish", str(source), "--topic", topic_name)
    run("consume", "--until-idle", "2")
    run("cards", "--user", some.user_id, "--conversation", some.conversation_id)
    run("runs", "--user", some.user_id, "--topic", some.topic_id)
    run("lag", "--group", group_id, "--topic", topic_name)
    run("replay", "--group", group_id, "--topic", topic_name, "--to-earliest", "--dry-run")
    run("reextract", "--failed", "--dry-run")
    # The llm extractor: a member and a re-extraction call the model with the key, and an
    # error that echoes the key is printed and recorded without it.
    llm = {**env, "CARDWRIGHT_EXTRACTOR": "llm"}
    topics = sorted({(e.user_id, e.topic_id) for e in events})
    run("replay", "--group", group_id, "--topic", topic_name, "--to-earliest")
    outputs["consume (llm)"] = run_with(llm, "consume", "--until-idle", "2")
    assert model_server.completion_requests, "the member never called the model"
    echo = {"error": {"message": f"Incorrect API key provided: {LLM_SENTINEL}"}}
    model_server.then(*[Reply(401, body=echo)] * 3)
    user_id, topic_id = topics[0]
    outputs["reextract (llm, 401)"] = run_with(
        {**llm, "CARDWRIGHT_LLM_MODEL": "other-model"},
        *("reextract", "--user", user_id, "--topic", topic_id, "--allow-other-extractor"),
        expect=(1,),
    )
    model_server.stop()
    run("dlq", "list", "--topic", topic_name)
    run("dlq", "redrive", "--all", "--dry-run", "--topic", topic_name)
    run("stack", "status", expect=(0, 3))  # 3: no local stack of this checkout runs
    # Failures print their errors: an unreachable database and an unreachable broker.
    dead_url = secret_url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    run("migrate", "--database-url", dead_url, expect=(1,))
    run("lag", "--group", group_id, "--bootstrap-servers", "127.0.0.1:1", expect=(1,))

    assert any("DEBUG" in text or '"debug"' in text for text in outputs.values())
    for name, text in outputs.items():
        for sentinel in (KAFKA_SENTINEL, DB_SENTINEL, LLM_SENTINEL):
            assert sentinel not in text, f"{sentinel[:5]}... leaked by `cardwright {name}`"
    assert "CARDWRIGHT_LLM_API_KEY" in outputs["reextract (llm, 401)"]
