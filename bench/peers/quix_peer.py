"""A peer for comparison, NOT part of cardwright: the same message ingest in Quix Streams.

Reads the events topic with a Quix Streams ``Application`` and writes one row per message into
PostgreSQL with Quix's own ``PostgreSQLSink`` (upsert on (user_id, message_id)). It runs in a
separate virtual environment (bench/peer.py makes it), so Quix Streams never becomes a
dependency of the project.

What it does not do, and cardwright does: schema validation and a DLQ, the revision check (the
sink keeps the last row read, not the highest revision), topic rows and state versions,
debounced extraction, cards and runs. It is the ingest half only.

    python quix_peer.py --bootstrap HOST:PORT --topic T --group G --dsn postgresql://... \
        --mark FILE --table NAME
"""

import argparse
import json
import time
from urllib.parse import urlparse

from quixstreams import Application
from quixstreams.sinks.community.postgresql import PostgreSQLSink

# Quix checkpoints (flushes the sink, commits offsets) this often; 1 s matches the bench's
# debounce, so both systems carry a similar end-of-run tail.
COMMIT_INTERVAL_S = 1.0

_COLUMNS = (
    "user_id",
    "message_id",
    "topic_id",
    "conversation_id",
    "role",
    "text",
    "created_at",
    "revision",
    "occurred_at",
    "event_id",
)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--group", "--dsn", "--mark", "--table"):
        parser.add_argument(name, required=True)
    parser.add_argument("--state-dir", default="/tmp/quix-peer-state")
    args = parser.parse_args()
    dsn = urlparse(args.dsn)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=COMMIT_INTERVAL_S,
        state_dir=args.state_dir,
        use_changelog_topics=False,
        auto_create_topics=False,
    )
    topic = app.topic(args.topic, value_deserializer="json", key_deserializer="str")
    sink = PostgreSQLSink(
        host=dsn.hostname,
        port=dsn.port,
        dbname=dsn.path.lstrip("/"),
        user=dsn.username,
        password=dsn.password or "",
        table_name=args.table,
        primary_key_columns=["user_id", "message_id"],
        upsert_on_primary_key=True,
        include_metadata=False,
    )
    started = []

    def to_row(value):
        if not started:
            started.append(time.time())
            with open(args.mark, "w") as mark:
                json.dump({"first_record": started[0]}, mark)
        row = {name: value[name] for name in _COLUMNS}
        row["deleted"] = value["op"] == "deleted"
        return row

    sdf = app.dataframe(topic)
    sdf = sdf.apply(to_row)
    sdf.sink(sink)
    app.run()


if __name__ == "__main__":
    main()
