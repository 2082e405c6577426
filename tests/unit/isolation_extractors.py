"""Misbehaving extractors for the child-process runner's tests, plugged in by entry point.

``register`` writes a dist-info directory declaring them in the ``cardwright.extractors`` group,
the way an installed plug-in declares itself; the parent and its child find them on ``sys.path``.
Each behaves like ``rules`` except on the topic named after its misbehaviour.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, TopicSnapshot

ID = "misbehaving@1"


class _Misbehaving:
    def __init__(self) -> None:
        self._rules = RulesExtractor()

    @property
    def extractor_id(self) -> str:
        return ID

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if snapshot.topic_id == "sleeps":
            while True:
                time.sleep(3600)
        if snapshot.topic_id == "spins":
            while True:  # pure Python, holding its interpreter's GIL
                pass
        if snapshot.topic_id == "raises":
            raise RuntimeError("extractor exploded")
        if snapshot.topic_id == "exits":
            os._exit(3)
        if snapshot.topic_id == "unpicklable":
            return [lambda: None]  # type: ignore[list-item]
        return self._rules.extract(snapshot)


class _MisbehavingCpuBound(_Misbehaving):
    """The same, declared CPU-bound as ``rules`` is: one slot, and a queue (consumers/pool.py)."""

    cpu_bound = True


class _Impostor:
    """What ``two_faced`` builds in the child: another extractor's id (a mismatched install)."""

    extractor_id = "impostor@1"

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        return []


def misbehaving() -> _Misbehaving:
    return _Misbehaving()


def misbehaving_cpu_bound() -> _MisbehavingCpuBound:
    return _MisbehavingCpuBound()


def two_faced() -> _Misbehaving | _Impostor:
    main = sys.modules["__main__"].__spec__
    in_child = main is not None and main.name == "cardwright.extractors.isolation"
    return _Impostor() if in_child else _Misbehaving()


ENTRY_POINTS = f"""\
[cardwright.extractors]
test-misbehaving = {__name__}:misbehaving
test-misbehaving-cpu = {__name__}:misbehaving_cpu_bound
test-two-faced = {__name__}:two_faced
"""


def register(directory: Path) -> None:
    """Declare the test extractors in ``directory``, which the caller puts on ``sys.path``."""
    info = directory / "cardwright_test_extractors-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cardwright-test-extractors\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
