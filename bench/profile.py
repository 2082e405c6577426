"""``python -m bench.profile``: one member under pyinstrument while it consumes a large backlog.

Publishes a seeded backlog to a fresh topic on the bench stack, runs ``bench.member`` under
``pyinstrument`` (a dev tool: ``pip install pyinstrument`` into the venv) until the group's lag
is 0 and every topic is extracted, then writes the profile as text next to the results.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import pipeline
from bench.completion import cards_current, wait_done
from bench.environment import bench_stack, fresh_topic
from bench.loadgen import LoadSpec, generate, publish_backlog
from bench.report import RESULTS_DIR
from cardwright.storage.engine import make_engine


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--messages-per-topic", type=int, default=20)
    parser.add_argument("--replay", action="store_true", help="profile a no-op replay instead")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "profile.txt")
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args()
    spec = LoadSpec(
        users=max(1, args.topics // 10),
        topics=args.topics,
        messages_per_topic=args.messages_per_topic,
    )
    with bench_stack(keep=args.keep_stack) as stack:
        events = generate(spec)
        topic = fresh_topic(stack.bootstrap, "profile")
        publish_backlog(stack.bootstrap, topic, events)
        target = pipeline.new_target(stack, topic, "profile")
        if args.replay:
            pipeline.throughput(target, 1, len(events), spec.topics, 600)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cardwright",
                    "replay",
                    "--group",
                    target.group,
                    "--to-earliest",
                ],
                env=target.env(),
                check=True,
                capture_output=True,
                timeout=60,
            )
        log = Path(tempfile.mkdtemp(prefix="cardwright-profile-")) / "member.jsonl"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyinstrument",
                "-r",
                "text",
                "-o",
                str(args.out),
                "-m",
                "bench.member",
                "--log",
                str(log),
            ],
            env=target.env(),
        )
        engine = make_engine(target.database_url)
        started = time.time()
        done = wait_done(
            stack.bootstrap,
            target.group,
            topic,
            lambda: cards_current(engine, spec.topics),
            600,
            lambda: process.poll() is None,
        )
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        engine.dispose()
    print(
        f"{len(events)} events in {done - started:.1f}s (from process start); profile in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
