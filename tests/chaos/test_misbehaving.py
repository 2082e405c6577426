"""The misbehaving oracles give the oracle's cards once they answer, misbehave once per input
across processes, and a member log saying max.poll.interval.ms was blown is an anomaly.

Harness side: the plug-ins are loaded through the product's ``load_extractor``. No services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cardwright.extractors.base import load_extractor
from cardwright.schema.cards import LiveMessage, TopicSnapshot
from tests.chaos.anomalies import Findings
from tests.chaos.member_logs import check_member_logs
from tests.chaos.misbehaving import MARKS_ENV, SPECS, first_meeting, worker_env
from tests.chaos.oracle import OracleExtractor

AT = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(text: str) -> TopicSnapshot:
    return TopicSnapshot("u", "t", "c", 1, (LiveMessage("m1", "user", AT, text),))


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(MARKS_ENV, str(tmp_path))
    return tmp_path


def test_each_input_is_met_for_the_first_time_once(marks: Path) -> None:
    assert first_meeting(snapshot("a #card"))
    assert not first_meeting(snapshot("a #card"))
    assert first_meeting(snapshot("b #card"))  # another input
    assert len(list(marks.iterdir())) == 2


def test_flaky_raises_once_per_input_then_gives_the_oracles_cards(marks: Path) -> None:
    flaky = load_extractor(SPECS["flaky"])
    with pytest.raises(RuntimeError, match="first call"):
        flaky.extract(snapshot("x #card"))
    assert flaky.extract(snapshot("x #card")) == OracleExtractor().extract(snapshot("x #card"))
    assert flaky.extractor_id == OracleExtractor.extractor_id  # the checker's model holds


def test_hanging_answers_an_input_it_met_before(marks: Path) -> None:
    hanging = load_extractor(SPECS["hanging"])
    assert first_meeting(snapshot("y #card"))  # as if a killed child had met it
    assert hanging.extract(snapshot("y #card")) == OracleExtractor().extract(snapshot("y #card"))


def test_hanging_runs_with_a_short_timeout_and_attempts_to_spare(tmp_path: Path) -> None:
    env = worker_env("hanging", tmp_path)
    assert float(env["CARDWRIGHT_EXTRACT_TIMEOUT_S"]) < 10
    assert int(env["CARDWRIGHT_EXTRACT_ATTEMPTS"]) >= 3
    assert Path(env[MARKS_ENV]).is_dir()
    assert worker_env("oracle", tmp_path) == {}


def test_a_member_log_that_blew_the_poll_interval_is_an_anomaly(tmp_path: Path) -> None:
    (tmp_path / "w0.log").write_text("INFO assigned [0, 1]\n")
    (tmp_path / "w1.log").write_text(
        "%4|1764|MAXPOLL|rdkafka#consumer-1| [thrd:main]: Application maximum poll interval "
        "(300000ms) exceeded by 88ms (adjust max.poll.interval.ms)\n"
    )
    findings = Findings()
    check_member_logs(tmp_path, findings)
    assert findings.by_kind() == {"poll_interval_exceeded": 1}
    assert findings.examples["poll_interval_exceeded"][0]["worker"] == "w1"
