"""The audit log writes one parseable JSON line per observation, named as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardwright.audit import AuditLog, audit_from_env
from cardwright.consumers import observations as obs
from cardwright.schema.errors import ConfigurationError


def test_each_event_is_one_json_line_with_times_instance_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path), "host-1-abc")
    log(obs.BatchPersisted(2, 1, (), (("t", 0, 5, "u", "tp", "m", 1),), ()))
    log(obs.Turn(3))
    log(obs.Committed("t", {0: 6}))
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["batch", "commit"]
    assert lines[0]["instance"] == "host-1-abc"
    assert lines[0]["applied"] == [["t", 0, 5, "u", "tp", "m", 1]]
    assert lines[1]["offsets"] == {"0": 6}
    assert lines[0]["t"] <= lines[1]["t"] and lines[0]["m"] <= lines[1]["m"]


def test_two_writers_append_to_one_file_without_losing_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.jsonl")
    first, second = AuditLog(path, "a"), AuditLog(path, "b")
    for i in range(50):
        first(obs.RunFinished("u", f"t{i}", "new"))
        second(obs.RunFinished("u", f"t{i}", "new"))
    first.close()
    second.close()
    with open(path) as handle:
        lines = [json.loads(line) for line in handle]
    assert sorted((line["instance"], line["topic_id"]) for line in lines) == sorted(
        (who, f"t{i}") for who in "ab" for i in range(50)
    )


def test_unset_means_no_audit_and_an_unwritable_path_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    assert audit_from_env("x", env={}) is None
    with pytest.raises(ConfigurationError, match="CARDWRIGHT_AUDIT_LOG"):
        audit_from_env("x", env={"CARDWRIGHT_AUDIT_LOG": str(tmp_path / "no" / "dir.jsonl")})
