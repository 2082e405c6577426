"""A benchmark consumer process: the product's worker, wired as ``cardwright consume`` wires it,
plus a small log of what the bench needs to time it.

    python -m bench.member --log PATH [--detail]

Settings come from ``CARDWRIGHT_*`` variables as for ``cardwright consume``. The log is JSONL,
one ``[name, unix_time, ...]`` array per line: ``assigned`` (the first poll that owns partitions),
and with ``--detail`` every ``batch`` (the (user, topic, message, revision) it applied) and ``run``
(user, topic, outcome), which freshness is computed from. ``exit`` carries the peak RSS. The
runner stops the process with SIGTERM once the database and the group's lag say it is done.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

import orjson

from cardwright.consumers import observations as obs
from cardwright.settings import load_settings
from cardwright.wiring import build_worker


class EventLog:
    """Buffers timestamped observations in memory; written once at exit to stay off the path."""

    def __init__(self, detail: bool) -> None:
        self.detail = detail
        self.lines: list[list[Any]] = []
        self._assigned = False

    def __call__(self, observation: obs.Observation) -> None:
        now = time.time()
        match observation:
            case obs.PartitionsAssigned() if not self._assigned:
                self._assigned = True
                self.lines.append(["assigned", now])
            case obs.BatchPersisted(applied=applied) if self.detail:
                self.lines.append(["batch", now, [list(a[3:7]) for a in applied]])
            case obs.RunFinished(user_id, topic_id, outcome) if self.detail:
                self.lines.append(["run", now, user_id, topic_id, outcome])

    def write(self, path: Path) -> None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.lines.append(["exit", time.time(), peak_kib * 1024])
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in self.lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--detail", action="store_true", help="log batches and runs too")
    args = parser.parse_args()
    log = EventLog(args.detail)
    worker = build_worker(load_settings(), on_event=log)
    worker.install_signal_handlers()
    try:
        worker.run()
    finally:
        log.write(args.log)


def read_log(path: Path) -> list[list[Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


if __name__ == "__main__":
    main()
