"""The local stack's configuration and broker properties: pure, no process is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardwright.schema.errors import ConfigurationError
from cardwright.stack.config import Mode, load_config
from cardwright.stack.native_kafka import new_cluster_id, render_server_properties


def test_defaults_match_the_service_settings_defaults() -> None:
    from cardwright.settings import DEFAULT_BOOTSTRAP, DEFAULT_DATABASE_URL

    config = load_config({"HOME": "/home/dev"})
    assert config.bootstrap == DEFAULT_BOOTSTRAP
    assert config.database_url == DEFAULT_DATABASE_URL
    assert config.controller_port == config.kafka_port + 1
    assert config.kafka_libs == Path("/home/dev/.cache/cardwright/kafka-4.1.1/libs")
    assert config.mode is Mode.AUTO


def test_ports_and_state_dir_follow_the_environment() -> None:
    config = load_config(
        {
            "CARDWRIGHT_STATE_DIR": "/var/tmp/other-stack",
            "CARDWRIGHT_STACK_KAFKA_PORT": "39092",
            "CARDWRIGHT_STACK_POSTGRES_PORT": "35432",
            "CARDWRIGHT_STACK_MODE": "native",
        }
    )
    assert config.state_dir == Path("/var/tmp/other-stack")
    assert config.exports() == [
        "export CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:39092",
        "export CARDWRIGHT_DATABASE_URL=postgresql+psycopg://cardwright@127.0.0.1:35432/cardwright",
    ]
    assert config.mode is Mode.NATIVE


def test_two_state_dirs_get_different_stack_ids() -> None:
    one = load_config({"CARDWRIGHT_STATE_DIR": "/var/tmp/a"})
    two = load_config({"CARDWRIGHT_STATE_DIR": "/var/tmp/b"})
    assert one.stack_id != two.stack_id


@pytest.mark.parametrize(
    "env",
    [
        {"CARDWRIGHT_STACK_KAFKA_PORT": "kafka"},
        {"CARDWRIGHT_STACK_KAFKA_PORT": "70000"},
        {"CARDWRIGHT_STACK_KAFKA_PORT": "25432"},
        {"CARDWRIGHT_STACK_MODE": "podman"},
    ],
)
def test_bad_settings_are_configuration_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        load_config(env)


def test_server_properties_describe_one_local_combined_node() -> None:
    config = load_config(
        {"CARDWRIGHT_STATE_DIR": "/var/tmp/s", "CARDWRIGHT_STACK_KAFKA_PORT": "4000"}
    )
    lines = render_server_properties(config).splitlines()
    props = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:4000,CONTROLLER://127.0.0.1:4001"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:4001"
    assert props["log.dirs"] == "/var/tmp/s/kafka/data"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "false"


def test_cluster_ids_are_22_url_safe_characters() -> None:
    for _ in range(50):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_a_stack_never_claims_the_processes_of_a_stack_whose_path_it_prefixes() -> None:
    from cardwright.stack.procs import matches

    other = ["java", "-Dcardwright.stack.dir=/var/tmp/cardwright-stack-test-x", "kafka.Kafka"]
    assert not matches(other, "-Dcardwright.stack.dir=/var/tmp/cardwright-stack")
    assert matches(other, "-Dcardwright.stack.dir=/var/tmp/cardwright-stack-test-x")
    title = ["postgres: cardwright-2b3b9ca6d7: checkpointer "]
    assert matches(title, "cardwright-2b3b9ca6d7:")
    assert not matches(title, "cardwright-2b3b9ca6d8:")


def test_three_brokers_listen_two_ports_apart_and_all_are_in_the_bootstrap() -> None:
    config = load_config({"CARDWRIGHT_STACK_BROKERS": "3", "CARDWRIGHT_STATE_DIR": "/nonexistent"})
    assert config.bootstrap == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert [config.quorum_port(n) for n in config.nodes] == [29093, 29095, 29097]
    assert len(set(config.ports())) == 7


def test_a_cluster_whose_ports_would_collide_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ports must differ"):
        load_config(
            {
                "CARDWRIGHT_STACK_BROKERS": "3",
                "CARDWRIGHT_STACK_KAFKA_PORT": "30000",
                "CARDWRIGHT_STACK_POSTGRES_PORT": "30004",
            }
        )


def test_every_node_of_a_cluster_names_all_voters_and_replicates_three_times() -> None:
    config = load_config({"CARDWRIGHT_STACK_BROKERS": "3", "CARDWRIGHT_STATE_DIR": "/nonexistent"})
    lines = dict(
        line.split("=", 1)
        for line in render_server_properties(config, node=2).splitlines()
        if not line.startswith("#")
    )
    assert lines["node.id"] == "2"
    assert lines["controller.quorum.voters"] == (
        "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
    )
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:29094,CONTROLLER://127.0.0.1:29095"
    assert lines["offsets.topic.replication.factor"] == "3"
    assert lines["transaction.state.log.min.isr"] == "2"
    assert lines["min.insync.replicas"] == "2"


def test_compose_gets_the_cluster_profile_quorum_and_replication_for_three_brokers() -> None:
    from cardwright.stack.compose import cluster_environment

    single = load_config({"CARDWRIGHT_STATE_DIR": "/nonexistent"})
    assert "COMPOSE_PROFILES" not in cluster_environment(single)
    cluster = load_config({"CARDWRIGHT_STACK_BROKERS": "3", "CARDWRIGHT_STATE_DIR": "/nonexistent"})
    env = cluster_environment(cluster)
    assert env["COMPOSE_PROFILES"] == "cluster"
    assert (env["CARDWRIGHT_STACK_KAFKA_PORT_2"], env["CARDWRIGHT_STACK_KAFKA_PORT_3"]) == (
        "29094",
        "29096",
    )
    assert (env["CARDWRIGHT_STACK_REPLICATION"], env["CARDWRIGHT_STACK_MIN_INSYNC"]) == ("3", "2")
    with pytest.raises(ConfigurationError, match="1 or 3 brokers"):
        cluster_environment(
            load_config({"CARDWRIGHT_STACK_BROKERS": "2", "CARDWRIGHT_STATE_DIR": "/x"})
        )


def test_a_state_dir_remembers_its_broker_count_and_refuses_another(tmp_path: Path) -> None:
    from cardwright.stack.native_kafka import check_recorded_brokers

    cluster = load_config({"CARDWRIGHT_STATE_DIR": str(tmp_path), "CARDWRIGHT_STACK_BROKERS": "3"})
    check_recorded_brokers(cluster)  # records 3 in a fresh state directory
    again = load_config({"CARDWRIGHT_STATE_DIR": str(tmp_path)})
    assert again.brokers == 3  # `stack env` / `status` without --brokers describe the cluster
    assert again.bootstrap.count(",") == 2
    single = load_config({"CARDWRIGHT_STATE_DIR": str(tmp_path), "CARDWRIGHT_STACK_BROKERS": "1"})
    with pytest.raises(ConfigurationError, match="holds a Kafka of 3 broker"):
        check_recorded_brokers(single)
