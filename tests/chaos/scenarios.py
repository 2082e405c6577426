"""Scripted schedules that reveal each planted bug every time, and pass cleanly without it.

  killed_while_debouncing  (commit_before_extraction) a worker persists a burst and is SIGKILLed
                           while its topics debounce; the next owner starts at its commit.
  stale_edits_after_deletes (edits_without_revision_check) deletes are applied, then stale edits
                           with lower revisions arrive in later batches.
  stale_worker             (skip_freshness_fence) a worker is frozen while it extracts a big
                           topic; the topic moves on under a new owner; the old worker wakes and
                           tries to store cards of the old input.
  concurrent_replace       (replace_without_lock) a worker freezes inside its replace transaction
                           (failpoint ``replace_after_delete:1:stop``); a new owner replaces the
                           same topic with an empty set; the first worker wakes and commits.
Each returns the seconds the scenario's convergence may take (it is bounded tighter than the
seeded runs' so that a planted bug that stalls progress is reported quickly).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.chaos import report
from tests.chaos.cluster import WorkerProc
from tests.chaos.events import SENTENCES, EventFactory, Message
from tests.chaos.harness import ChaosRun, Settings
from tests.chaos.history import read_jsonl
from tests.chaos.oracle_rule import SLOW_MARKER
from tests.chaos.stack import ChaosStack
from tests.chaos.workload import Record, Workload, WorkloadSpec

# A worker joins the group and gets partitions within a few seconds; a frozen worker's
# partitions move after the 10 s session timeout plus a rebalance.
JOIN_S = 30.0
MOVE_S = 45.0
# The big topic: every message marked #slow, so the oracle extractor needs seconds for it on any
# machine (oracle_rule.SLOW_S each: 3 s), and a SIGSTOP lands inside extraction.
BIG_MESSAGES = 150
BIG_TEXT_BYTES = 20_000


def audit(worker: WorkerProc) -> list[dict[str, Any]]:
    return read_jsonl([worker.audit]) if worker.audit.exists() else []


def wait_audit(
    chaos: ChaosRun, worker: WorkerProc, what: str, test: Callable[[dict[str, Any]], bool], s: float
) -> None:
    chaos.wait_for(f"{worker.name}: {what}", lambda: any(test(x) for x in audit(worker)), s)


def assigned(line: dict[str, Any]) -> bool:
    return line["event"] == "assigned" and bool(line.get("partitions"))


def run_of(topic: str, *outcomes: str) -> Callable[[dict[str, Any]], bool]:
    return lambda x: x["event"] == "run" and x["topic_id"] == topic and x["outcome"] in outcomes


def applied_count(worker: WorkerProc) -> int:
    return sum(len(x.get("applied", [])) for x in audit(worker) if x["event"] == "batch")


def records(values: list[tuple[bytes, bytes]]) -> list[Record]:
    return [Record(0.0, key, value, "scripted") for key, value in values]


# --- commit_before_extraction ----------------------------------------------------------------


def killed_while_debouncing(chaos: ChaosRun) -> float:
    workload = Workload(WorkloadSpec(seed=11, duration_s=4.0, partitions=chaos.settings.partitions))
    burst = [Record(0.0, r.key, r.value, r.label) for r in workload.generate()]
    first = chaos.cluster.spawn()
    chaos.start_sampler(workload.topic_keys())
    wait_audit(chaos, first, "joined", assigned, JOIN_S)
    chaos.publish(burst)
    chaos.wait_for("the burst persisted", lambda: applied_count(first) > 0, JOIN_S)
    time.sleep(1.0)  # well inside the 4 s debounce: every topic is still pending
    chaos.cluster.kill(first, respawn_s=1.0)  # its slot gets a new worker, as after a crash
    return 60.0


# --- edits_without_revision_check ------------------------------------------------------------


def stale_edits_after_deletes(chaos: ChaosRun) -> float:
    factory = EventFactory(random.Random(12))
    messages = [
        factory.new_message(f"user-{t % 3}", f"topic-{t}", f"conv-{t}", f"msg-{t}-{n}")
        for t in range(8)
        for n in range(3)
    ]
    history = [(m.topic_id.encode(), factory.advance(m, factory.text())) for m in messages]
    history += [(m.topic_id.encode(), factory.advance(m, factory.text())) for m in messages]
    deleted = messages[::2]
    history += [(m.topic_id.encode(), factory.advance(m, "")) for m in deleted]
    chaos.cluster.start(2)
    chaos.start_sampler(sorted({(m.user, m.topic_id) for m in messages}))
    chaos.publish(records(history))
    chaos.converge(JOIN_S + MOVE_S)
    # Each arrives in a batch of its own, after the delete it contradicts was stored.
    for m in deleted:
        chaos.publish(records([(m.topic_id.encode(), factory.stale_edit(m))]))
        time.sleep(0.3)
    return 60.0


# --- skip_freshness_fence --------------------------------------------------------------------


def big_topic(factory: EventFactory) -> tuple[list[Message], list[tuple[bytes, bytes]]]:
    rng = random.Random(13)
    messages = [
        factory.new_message("user-big", "topic-big", "conv-big", f"big-{n}")
        for n in range(BIG_MESSAGES)
    ]
    values = []
    for m in messages:
        text = " ".join(rng.choice(SENTENCES) for _ in range(BIG_TEXT_BYTES // 40))
        text = f"{SLOW_MARKER} {text[: BIG_TEXT_BYTES - 10]}"
        values.append((m.topic_id.encode(), factory.advance(m, text)))
    return messages, values


def stale_worker(chaos: ChaosRun) -> float:
    factory = EventFactory(random.Random(14))
    messages, values = big_topic(factory)
    first = chaos.cluster.spawn()
    chaos.start_sampler([("user-big", "topic-big")])
    wait_audit(chaos, first, "joined", assigned, JOIN_S)
    chaos.publish(records(values))
    chaos.wait_for("the big topic persisted", lambda: applied_count(first) >= len(values), MOVE_S)
    time.sleep(chaos.settings.debounce_ms / 1000 + 1.0)  # due, read, now extracting
    chaos.cluster.freeze(first)
    if any(run_of("topic-big", "new")(x) for x in audit(first)):
        raise AssertionError("scenario broken: the big topic was extracted before the freeze")
    edit = factory.advance(messages[0], "We decided to cancel the Lisbon trip. " + factory.text())
    chaos.publish(records([(b"topic-big", edit)]))
    second = chaos.cluster.spawn()
    wait_audit(chaos, second, "took over", assigned, MOVE_S)
    wait_audit(chaos, second, "extracted the new input", run_of("topic-big", "new"), MOVE_S)
    chaos.cluster.thaw(first)
    wait_audit(chaos, first, "finished its old extraction", run_of("topic-big", *OUTCOMES), MOVE_S)
    return 60.0


OUTCOMES = ("new", "reused", "noop", "stale", "failed")


# --- replace_without_lock --------------------------------------------------------------------


def concurrent_replace(chaos: ChaosRun) -> float:
    factory = EventFactory(random.Random(15))
    messages = [
        factory.new_message("user-lock", "topic-lock", "conv-lock", f"lock-{n}") for n in range(6)
    ]
    first = chaos.cluster.spawn(armed="replace_after_delete:1:stop")
    chaos.start_sampler([("user-lock", "topic-lock")])
    wait_audit(chaos, first, "joined", assigned, JOIN_S)
    chaos.publish(records([(b"topic-lock", factory.advance(m, factory.text())) for m in messages]))
    chaos.wait_for("the first worker frozen in its replace", lambda: first.state() == "T", MOVE_S)
    first.frozen = True
    second = chaos.cluster.spawn()
    wait_audit(chaos, second, "took over", assigned, MOVE_S)
    chaos.publish(records([(b"topic-lock", factory.advance(m, "")) for m in messages]))
    # With the lock, the second worker waits for the first one's transaction instead.
    with contextlib.suppress(TimeoutError):
        wait_audit(chaos, second, "replaced the topic", run_of("topic-lock", "new"), 20.0)
    chaos.cluster.thaw(first)
    return 60.0


SCENARIOS: dict[str, tuple[Callable[[ChaosRun], float], Settings]] = {
    "commit_before_extraction": (
        killed_while_debouncing,
        Settings(debounce_ms=4000, max_delay_ms=20000),
    ),
    "edits_without_revision_check": (stale_edits_after_deletes, Settings(debounce_ms=300)),
    "skip_freshness_fence": (stale_worker, Settings(debounce_ms=300, batch_size=500)),
    "replace_without_lock": (concurrent_replace, Settings(debounce_ms=300)),
}


def run_scenario(stack: ChaosStack, name: str, planted: bool, out_dir: Path) -> dict[str, Any]:
    """Run the scenario for planted bug ``name``, with the bug switched on or not; the report."""
    script, settings = SCENARIOS[name]
    settings = replace(settings, planted=name if planted else None)
    label = f"{name.split('_')[0]}-{'bug' if planted else 'ok'}"
    chaos = ChaosRun(stack, settings, out_dir, label)
    t0 = time.monotonic()
    result: dict[str, Any] = {"ok": False}
    try:
        bound = script(chaos)
        convergence = chaos.converge(bound)
        chaos.stop()
        verdict, evidence = chaos.check()
        info = {"seed": name, "planted": settings.planted, "out_dir": str(out_dir), **chaos.info()}
        result = report.build(info, verdict, [], chaos.cluster.exits, convergence, t0)
        report.save(result, out_dir, verdict, evidence)
        return result
    finally:
        chaos.stop()
        chaos.close(keep_history=not result["ok"])
