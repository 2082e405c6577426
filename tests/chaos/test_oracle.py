"""The oracle plug-in the workers run gives exactly the cards the checker expects. No services.

This test sits on the harness side: it loads the plug-in through the product's
``load_extractor`` and feeds it the product's ``TopicSnapshot``.
"""

from __future__ import annotations

from cardwright.extractors.base import Extractor, load_extractor
from cardwright.schema.cards import LiveMessage, TopicSnapshot
from tests.chaos.expected import ExpectedCards
from tests.chaos.harness import ORACLE
from tests.chaos.model import LogRecord, build_model
from tests.chaos.oracle_rule import EXTRACTOR_ID
from tests.chaos.workload import Workload, WorkloadSpec


def test_the_plug_in_loads_by_its_factory_spec_and_matches_the_checkers_cards() -> None:
    extractor = load_extractor(ORACLE)
    assert isinstance(extractor, Extractor)
    assert extractor.extractor_id == EXTRACTOR_ID
    records = Workload(WorkloadSpec(seed=2, duration_s=40.0, partitions=1)).generate()
    log = [LogRecord(0, n, r.key, r.value, 0) for n, r in enumerate(records)]
    model = build_model(log, EXTRACTOR_ID)
    expect = ExpectedCards()
    checked = 0
    for topic in model.topics.values():
        for source_hash, live in topic.inputs.items():
            snapshot = TopicSnapshot(
                topic.key[0],
                topic.key[1],
                topic.conversation,
                0,
                tuple(LiveMessage(m.message_id, m.role, m.created_at, m.text) for m in live),
            )
            got = [
                (i, d.kind.value, d.title, d.body, list(d.message_ids))
                for i, d in enumerate(extractor.extract(snapshot))
            ]
            assert got == expect.cards(topic, source_hash)
            checked += 1
    assert checked > 50
