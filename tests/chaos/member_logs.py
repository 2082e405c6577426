"""What the members' own logs say that the other evidence cannot: librdkafka's line that a member
went longer than ``max.poll.interval.ms`` between polls, after which the group expels it.

A member's poll loop must never wait on an extraction (docs/design.md, "Inside a member"), so
the line is an anomaly (``poll_interval_exceeded``) whatever the extractor does.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.chaos.anomalies import Findings

# librdkafka: "Application maximum poll interval (300000ms) exceeded by 88ms" (a log line and
# the consumer error the member then logs).
POLL_INTERVAL_EXCEEDED = re.compile(r"maximum poll interval .*exceeded", re.IGNORECASE)


def check_member_logs(logs_dir: Path, findings: Findings) -> None:
    for log in sorted(logs_dir.glob("*.log")):
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if POLL_INTERVAL_EXCEEDED.search(line):
                findings.add("poll_interval_exceeded", worker=log.stem, line=line[-500:])
