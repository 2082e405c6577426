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

from cardwright.settings import load_settings
from cardwright.wiring import build_worker


class EventLog:
    """Buffers timestamped worker events in memory; written once at exit to stay off the path."""

    def __init__(self, detail: bool) -> None:
        self.detail = detail
        self.lines: list[list[Any]] = []
        self._assigned = False

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        now = time.time()
        if name == "assigned" and not self._assigned:
            self._assigned = True
            self.lines.append(["assigned", now])
        elif not self.detail:
            return
        elif name == "batch":
            applied = [a[3:7] for a in fields["applied"]]  # user, topic, message, revision
            self.lines.append(["batch", now, applied])
        elif name == "run":
            self.lines.append(
                ["run", now, fields["user_id"], fields["topic_id"], fields["outcome"]]
            )

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
