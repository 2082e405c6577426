"""The llm extractor in the extraction pool: topics/s against what its slots allow, and tokens.

The slow-extractor measurement (bench/slow_extractor.py) with the real ``llm`` extractor in
place of a sleep: each of ``CONCURRENCY`` warm child processes sends its topic to the test server
(tests/llm_server.py, on 127.0.0.1 in this process) which answers after ``LATENCY_S``. Ideally
the member derives ``CONCURRENCY / LATENCY_S`` topics per second; ``llm/ideal`` is the measured
rate over that. What differs from the sleep is the extractor's own cost: the HTTP call, building
the prompt, reading and validating the answer, and the tokens crossing the pipe.

    python -m bench.run --only llm_extractor     # the ratio in the summary
    python -m bench.llm_extractor                # the figures alone
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.environment import Stack, bench_stack
from bench.slow_extractor import measure_spec
from tests.llm_server import LlmServer

LATENCY_S = 1.0
MODEL = "bench-model"
# By factory rather than entry point name: it loads the same extractor (llm@1:<model>) in checkouts
# whose installed metadata predates the entry point.
SPEC = "cardwright.extractors.llm:LlmExtractor"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The extractor's settings for the member and, inherited, its child processes."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def measure(stack: Stack, timeout_s: float = 300.0) -> dict[str, Any]:
    with (
        LlmServer(LATENCY_S) as server,
        _environment(
            {
                "CARDWRIGHT_LLM_BASE_URL": server.base_url,
                "CARDWRIGHT_LLM_MODEL": MODEL,
                "CARDWRIGHT_LLM_API_KEY": "sk-bench-local",
                "CARDWRIGHT_LLM_PROMPT_FILE": "",
                "CARDWRIGHT_LLM_MAX_REQUESTS_PER_S": "0",
            }
        ),
    ):
        found = measure_spec(stack, SPEC, LATENCY_S, "llm", timeout_s)
        found["server_requests"] = len(server.completion_requests)
        found["server_peak_concurrent"] = server.peak
    found["latency_s"] = found.pop("sleep_s")
    found["model"] = MODEL
    return found


if __name__ == "__main__":
    with bench_stack() as running:
        print(measure(running))
