"""Oracle extractors that misbehave, for ``python -m tests.chaos.run --extractor NAME``.

Each gives the oracle's cards (same ``extractor_id``, so the checker's model is unchanged) and
only differs in how it gets there, which is what the member's extraction pool must absorb:

- ``slow``: takes 1 to 3 seconds per call, the same for the same input;
- ``hanging``: never returns the first time it meets an input (the member's timeout must kill
  it), then answers: the retry succeeds;
- ``flaky``: raises the first time it meets an input, then answers.

"The first time" is remembered across processes (the child a timeout killed, the other
members): a marker file per input, created with O_EXCL in the directory ``MARKS_ENV`` names.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from cardwright.schema.cards import CardDraft, TopicSnapshot
from tests.chaos.oracle import OracleExtractor

MARKS_ENV = "CHAOS_EXTRACTOR_MARKS"
SPECS = {
    "oracle": "tests.chaos.oracle:OracleExtractor",
    "slow": "tests.chaos.misbehaving:SlowOracle",
    "hanging": "tests.chaos.misbehaving:HangingOracle",
    "flaky": "tests.chaos.misbehaving:FlakyOracle",
}
SLOW_MIN_S = 1.0
SLOW_SPAN_S = 2.0


def fingerprint(snapshot: TopicSnapshot) -> str:
    """One input, whichever member or process meets it."""
    digest = hashlib.sha256()
    for part in (snapshot.user_id, snapshot.topic_id):
        digest.update(part.encode() + b"\0")
    for m in snapshot.messages:
        for part in (m.message_id, m.role, m.created_at.isoformat(), m.text):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def first_meeting(snapshot: TopicSnapshot) -> bool:
    """True once per input across every process sharing the marks directory."""
    marks = Path(os.environ[MARKS_ENV])
    try:
        fd = os.open(marks / fingerprint(snapshot), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class SlowOracle(OracleExtractor):
    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        share = int(fingerprint(snapshot)[:8], 16) / 0xFFFFFFFF
        time.sleep(SLOW_MIN_S + SLOW_SPAN_S * share)
        return super().extract(snapshot)


class HangingOracle(OracleExtractor):
    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if first_meeting(snapshot):
            while True:  # until the member's timeout kills this process
                time.sleep(3600)
        return super().extract(snapshot)


class FlakyOracle(OracleExtractor):
    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if first_meeting(snapshot):
            raise RuntimeError("flaky: the first call for this input fails")
        return super().extract(snapshot)


def worker_env(name: str, out_dir: Path) -> dict[str, str]:
    """The workers' environment for extractor ``name``: a short timeout so that a hang costs
    seconds, and attempts to spare, so that every input is extracted in the end."""
    if name == "oracle":
        return {}
    marks = out_dir / "extractor-marks"
    marks.mkdir(parents=True, exist_ok=True)
    env = {"CARDWRIGHT_EXTRACTOR": SPECS[name], MARKS_ENV: str(marks)}
    if name in ("hanging", "flaky"):
        # A retry follows each failure after a backoff of 1, 2, 4 ... s; past the last attempt
        # the failure would be recorded and the topic's cards would differ from the model.
        env |= {"CARDWRIGHT_EXTRACT_TIMEOUT_S": "3", "CARDWRIGHT_EXTRACT_ATTEMPTS": "8"}
    return env
