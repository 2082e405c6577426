"""What the checker finds: anomalies by kind, each with the values that explain it.

Kinds (stable names the reports and tests use):
  final_messages            a stored message differs from the model (missing, extra, other revision)
  final_topics              a topic row is missing, extra, or names another conversation
  final_cards               a topic's final cards are not the extractor's output for its final input
  duplicate_run             two runs for one (topic_id, user_id, source_hash)
  duplicate_card            one card id, or one position of a topic, twice
  card_not_in_current_run   a card that does not belong to its topic's current run
  foreign_run               a run of an input state the topic never had, or counts unlike it
  torn_card_set             a sampled set with missing or extra cards for its run
  mixed_card_set            a sampled set with cards of several runs, or not of the current run
  foreign_card_set          a sampled set that is not the cards of any state of the topic
  regressing_card_set       a sampled set older than one sampled before it
  offset_passed_watermark   a commit passed an event whose effect was not yet durable
  dlq_missing               a poison record absent from the DLQ, altered, or with the wrong reason
  dlq_duplicate             a poison record copied to the DLQ more than once in one delivery
  valid_event_dead_lettered a record the model applies was dead-lettered
  no_convergence            lag or pending topics remained past the bound after the last fault
  worker_crashed            a consumer exited on its own, not by the harness or a failpoint
  poll_interval_exceeded    a member's log says it blew max.poll.interval.ms (the group expels it)
  acknowledged_missing      a record the broker acknowledged (acks=all) is not in the log
  log_duplicate             a record is in the log more often than it was published
  harness_error             the workload broke an assumption of the model; the run proves nothing
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# Examples kept per kind: enough to debug, bounded so a systematic bug does not bloat the report.
EXAMPLES_PER_KIND = 25


class Findings:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def add(self, kind: str, **detail: Any) -> None:
        self.counts[kind] += 1
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES_PER_KIND:
            kept.append(detail)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def by_kind(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def to_json(self) -> dict[str, Any]:
        return {"by_kind": self.by_kind(), "examples": self.examples}
