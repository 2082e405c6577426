"""A real HTTP server speaking the Chat Completions wire format, for tests and the bench.

It listens on 127.0.0.1 (a free port unless told), answers ``POST /v1/chat/completions``
deterministically from the request, after an optional latency, and plays a script first: replies
queued with ``then`` (a status and headers, a raw body, an answer's content, a hang) are served
one per request before the default answer resumes. Every request is kept (``requests``), so
tests can see what the extractor sent, and the most requests it answered at once is ``peak``.

The latency is a number of seconds, or a function of the request: ``spread_latency(1, 2)`` gives
each request its own latency between the two, the same for the same request every time, as a
model's answers take longer for some topics than others.

The default answer: for each message of the topic, one card, a ``question`` when its text has a
question mark and an ``action_item`` otherwise, titled with the text's first 60 characters.
Usage is counted as a real server would report it: prompt tokens from the request's size, and
completion tokens from the answer's, a token per 4 bytes.

    python -m tests.llm_server --port 8089 --latency 1.0     # for README runs and the bench
    python -m tests.llm_server --port 8089 --latency 1.0 --latency-max 2.0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted reply: ``content`` makes a normal completion around it; else ``body``
    (a JSON value, or raw bytes) is sent as is with ``status``; ``hang_s`` waits first."""

    status: int = 200
    content: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    finish_reason: str = "stop"
    usage: bool = True


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


Answerer = Callable[[dict[str, Any]], str]
Latency = Callable[[dict[str, Any]], float]


def spread_latency(low_s: float, high_s: float) -> Latency:
    """A latency between ``low_s`` and ``high_s`` for each request, fixed by its content: the
    same topic waits as long on every run, and the topics of a run spread evenly over the range."""

    def latency(request: dict[str, Any]) -> float:
        content = json.dumps(request.get("messages"), sort_keys=True).encode()
        share = int.from_bytes(hashlib.sha256(content).digest()[:4], "big") / 0xFFFFFFFF
        return low_s + (high_s - low_s) * share

    return latency


def one_card_per_message(request: dict[str, Any]) -> str:
    messages = json.loads(request["messages"][-1]["content"])
    cards = [
        {
            "kind": "question" if "?" in m["text"] else "action_item",
            "title": (m["text"][:60].strip() or m["id"]),
            "body": "",
            "message_ids": [m["id"]],
        }
        for m in messages
    ]
    return json.dumps({"cards": cards}, ensure_ascii=False)


def tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / 4)


class LlmServer:
    def __init__(
        self,
        latency_s: float | Latency = 0.0,
        answer: Answerer = one_card_per_message,
        *,
        port: int = 0,
        refuse_json_schema: bool = False,
    ) -> None:
        self.latency_s = latency_s
        self.answer = answer
        self.refuse_json_schema = refuse_json_schema
        self.requests: list[Seen] = []
        self.peak = 0  # the most completion requests being answered at once
        self._in_flight = 0
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def then(self, *replies: Reply) -> LlmServer:
        with self._lock:
            self._script.extend(replies)
        return self

    def start(self) -> LlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> LlmServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def completion_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.split("?")[0].endswith("/chat/completions")]

    # --- the server's side -----------------------------------------------------------------

    def respond(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(seen)
            reply = self._script.popleft() if self._script else None
        if not seen.path.split("?")[0].endswith("/chat/completions"):
            return 404, {}, b'{"error":{"message":"not found"}}'
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            return self._complete(seen, reply)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _complete(self, seen: Seen, reply: Reply | None) -> tuple[int, dict[str, str], bytes]:
        latency = self.latency_s(seen.body) if callable(self.latency_s) else self.latency_s
        if reply is not None and reply.hang_s:
            self._stopping.wait(reply.hang_s)
        elif latency:
            self._stopping.wait(latency)
        request = seen.body
        response_format = request.get("response_format", {}).get("type")
        if self.refuse_json_schema and response_format == "json_schema":
            message = {"error": {"message": "response_format json_schema is not supported"}}
            return 400, {}, json.dumps(message).encode()
        if reply is not None and reply.content is None:
            raw = reply.body
            body = raw if isinstance(raw, bytes) else json.dumps(raw or {}).encode()
            return reply.status, reply.headers, body
        content = self.answer(request) if reply is None or reply.content is None else reply.content
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.finish_reason if reply else "stop",
                }
            ],
        }
        if reply is None or reply.usage:
            prompt = "".join(m["content"] for m in request["messages"])
            completion["usage"] = {
                "prompt_tokens": tokens(prompt),
                "completion_tokens": tokens(content),
                "total_tokens": tokens(prompt) + tokens(content),
            }
        headers = reply.headers if reply is not None else {}
        return 200, headers, json.dumps(completion, ensure_ascii=False).encode()


def _handler(server: LlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(self.path, headers, body, time.time())
            status, headers, payload = server.respond(seen)
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a scripted hang): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument(
        "--latency-max",
        type=float,
        default=None,
        help="each request waits between --latency and this, fixed by its content",
    )
    args = parser.parse_args()
    high = args.latency if args.latency_max is None else args.latency_max
    latency: float | Latency = args.latency
    if high != args.latency:
        latency = spread_latency(args.latency, high)
    server = LlmServer(latency, port=args.port).start()
    shown = f"{args.latency}" + (f"-{high}" if high != args.latency else "")
    print(f"serving Chat Completions on {server.base_url} (latency {shown} s)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


def register_entry_point(directory: str) -> str:
    """A distribution on ``directory`` that names the ``llm`` entry point, for checkouts whose
    installed metadata predates it (an editable install made before the entry point existed);
    put ``directory`` on sys.path (and PYTHONPATH for child processes). Returns ``directory``."""
    from pathlib import Path

    info = Path(directory) / "cardwright_llm_entry_point-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cardwright-llm-entry-point\n")
    (info / "entry_points.txt").write_text(
        "[cardwright.extractors]\nllm = cardwright.extractors.llm:LlmExtractor\n"
    )
    return directory


if __name__ == "__main__":
    main()
