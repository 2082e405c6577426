"""The one place where real adapters are built from settings and wired together."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from confluent_kafka import Consumer
from sqlalchemy import Engine

from cardwright.audit import audit_from_env
from cardwright.consumers import observations as obs
from cardwright.consumers.budget import TokenBudget
from cardwright.consumers.dlq import DeadLetters
from cardwright.consumers.extraction import TopicExtraction, UsageObserver
from cardwright.consumers.observations import Observer, fan_out
from cardwright.consumers.worker import Worker, WorkerConfig
from cardwright.extractors.base import Extractor
from cardwright.producers.kafka_config import client_config, client_properties
from cardwright.schema.usage import TokenUsage
from cardwright.settings import Settings
from cardwright.storage.engine import make_engine

# A member that stops heartbeating (kill -9, SIGSTOP) loses its partitions after this long.
# Short enough that a crashed worker's topics move within seconds, long enough to ride out a
# GC pause or a busy machine; the broker's group.min.session.timeout.ms is 6 s by default.
SESSION_TIMEOUT_MS = 10_000
# Generous: a batch of extractions must finish within it or the member is expelled.
MAX_POLL_INTERVAL_MS = 300_000


def instance_name() -> str:
    """A consumer instance id that names the host and process, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def consumer_config(settings: Settings, group_id: str, instance: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(
            client_properties(settings.kafka)
        ),  # secrets unwrapped here, for the client
        "group.id": group_id,
        "client.id": instance,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        "enable.partition.eof": False,
    }
    if settings.group_protocol == "consumer":
        # KIP-848: the broker owns assignment, session timeout and heartbeat interval, and
        # librdkafka refuses the classic properties for them. Assignments are incremental, as
        # with cooperative-sticky, so the worker's callbacks see the same kinds of change.
        config["group.protocol"] = "consumer"
        return config
    return config | {
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 4,
    }


def database_engine(settings: Settings, pool_size: int = 5) -> Engine:
    """The engine of a cardwright process, its sessions bounded by the settings' lock and
    statement timeouts (CARDWRIGHT_DB_LOCK_TIMEOUT_MS, CARDWRIGHT_DB_STATEMENT_TIMEOUT_MS)."""
    return make_engine(
        settings.database_url.get_secret_value(),
        pool_size=pool_size,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


def token_budget(settings: Settings) -> TokenBudget | None:
    """The member's token budget (CARDWRIGHT_LLM_TOKENS_PER_HOUR), if one is set."""
    limit = settings.llm_tokens_per_hour
    return TokenBudget(limit) if limit else None


def usage_observer(observe: Observer) -> UsageObserver:
    """Model usage as ``ModelUsage`` observations, which metrics count by model and outcome."""

    def on_usage(outcome: str, usage: TokenUsage) -> None:
        observe(
            obs.ModelUsage(
                usage.model,
                outcome,
                usage.calls,
                usage.prompt_tokens,
                usage.completion_tokens,
            )
        )

    return on_usage


def build_worker(
    settings: Settings,
    group_id: str | None = None,
    extractor: Extractor | None = None,
    on_event: Observer | None = None,
    instance: str | None = None,
) -> Worker:
    instance = instance or instance_name()
    group = group_id or settings.group_id
    workers: list[Worker] = []  # the consumer exists before the worker its callback reports to
    config = consumer_config(settings, group, instance)
    config["on_commit"] = lambda error, partitions: workers[0].on_commit(error, partitions)
    consumer = Consumer(config)
    engine = database_engine(settings)
    # CARDWRIGHT_AUDIT_LOG: every observation also goes to an append-only JSON-lines file.
    observer = fan_out(on_event, audit_from_env(instance))
    # By name, the extractor runs in child processes (one per slot) that a timeout kills
    # (nothing left behind); an instance (tests) runs in threads.
    extraction = TopicExtraction(
        engine,
        extractor or settings.extractor,
        instance,
        settings.extract_timeout_s,
        settings.extract_concurrency,
        budget=token_budget(settings),
        on_usage=usage_observer(observer),
    )
    dead_letters = DeadLetters(
        client_config(client_properties(settings.kafka)), settings.dlq_topic, instance
    )
    worker_config = WorkerConfig(
        topic=settings.events_topic,
        debounce_s=settings.debounce_ms / 1000,
        max_delay_s=settings.max_delay_ms / 1000,
        batch_size=settings.batch_size,
        batch_timeout_s=settings.batch_timeout_ms / 1000,
        extract_attempts=settings.extract_attempts,
        instance=instance,
    )
    worker = Worker(worker_config, consumer, engine, extraction, dead_letters, on_event=observer)
    workers.append(worker)
    return worker
