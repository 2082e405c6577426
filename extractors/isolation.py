"""Runs an extractor, loaded by entry point name, in a child process that is killed on overrun.

A thread cannot be stopped: an extractor that hangs or spins past its timeout keeps its thread
(and, for pure Python work, the GIL) for as long as it likes. A child process can be stopped: on
timeout it gets SIGKILL, is reaped, and the next extraction starts a new one. The child loads the
extractor itself, by the same entry point spec, and says which ``extractor_id`` it got, so the
drafts it returns belong to the id the parent hashed with.

One warm child serves extraction after extraction (its memo stays warm too): each extraction is
one pickled snapshot down a pipe and one pickled list of drafts back. The child is started by
``warm`` (the pool warms its first slot when the member starts, so the child's start overlaps the
group join instead of delaying the first topic) or else by the first extraction, and only again
after a kill or a crash. It runs in its own
session so a terminal's Ctrl-C reaches the member, which then closes the child; it exits by itself
when the parent's end of the pipe closes, however the parent ended. No thread is started: a
runner serves one caller at a time, and the extraction pool (consumers/pool.py) gives each of its
slots a runner of its own.

    python -m cardwright.extractors.isolation REQUEST_FD REPLY_FD   # the child's side
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import weakref
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

import cardwright
from cardwright.extractors.base import Extractor, MeteredExtractor, load_extractor
from cardwright.schema.cards import LiveMessage, TopicSnapshot
from cardwright.schema.errors import ConfigurationError, ExtractionFailed, ExtractionTimedOut
from cardwright.schema.usage import TokenUsage

# Starting the interpreter, importing cardwright and loading the extractor: bounded apart from
# the extraction timeout, so a slow start neither counts against the first topic nor hangs.
START_TIMEOUT_S = 60.0
# After the parent's end of the pipe closes, an idle child exits at once; past this it is killed.
_EXIT_GRACE_S = 2.0


class IsolatedRunner:
    """Runs ``spec``'s extractor in a warm child process, one snapshot at a time."""

    def __init__(self, spec: str, loaded: Extractor | None = None) -> None:
        self.spec = spec
        # Loaded here too: its id is part of the source hash, computed before any extraction.
        # Runners of one pool share the instance one of them loaded (``loaded``).
        self.extractor: Extractor = loaded or load_extractor(spec)
        self._child: _Child | None = None
        self._ready = False  # the child said it loaded the extractor with our id

    def warm(self) -> None:
        """Start the child now without waiting for it: interpreter, imports and the extractor
        load while the caller goes on; the first ``run`` waits only for what is left."""
        if self._child is None:
            self._child = _Child.spawn()
            self._child.send_greeting(self.spec)

    def run(self, snapshot: TopicSnapshot, timeout_s: float) -> object:
        """What the extractor returned for ``snapshot``, unchecked. Raises ``ExtractionFailed``
        when it raised, overran ``timeout_s`` (the child is killed) or its process died."""
        child = self._child if self._ready and self._child is not None else self._start(snapshot)
        try:
            reply = child.ask(snapshot, timeout_s)
        except _Gone as gone:
            self._discard()
            failure = ExtractionTimedOut if gone.timed_out else ExtractionFailed
            raise failure(snapshot.user_id, snapshot.topic_id, str(gone)) from None
        status, value = reply
        if status == "error":
            raise ExtractionFailed(snapshot.user_id, snapshot.topic_id, str(value))
        if status == "failed":  # an ExtractionFailed of the child's, with the tokens it spent
            cause, usage = cast(tuple[str, TokenUsage | None], value)
            raise ExtractionFailed(snapshot.user_id, snapshot.topic_id, cause, usage=usage)
        return value

    def close(self) -> None:
        self._discard()

    def interrupt(self) -> None:
        """Kill the child now, from another thread than the one in ``run``: that ``run`` then
        fails at once (the child died) and the runner starts a new child when next used."""
        child = self._child
        if child is not None:
            child.kill()

    def _start(self, snapshot: TopicSnapshot) -> _Child:
        child = self._child
        if child is None:
            # Known from the start, so that ``interrupt`` reaches a child still starting too.
            self.warm()
            child = self._child
            assert child is not None
        try:
            status, value = child.greeting(START_TIMEOUT_S)
        except _Gone as gone:
            self._discard()
            cause = f"extractor process did not start: {gone}"
            raise ExtractionFailed(snapshot.user_id, snapshot.topic_id, cause) from None
        if status != "ready" or value != self.extractor.extractor_id:
            self._discard()
            found = value if status == "error" else f"extractor_id {value!r}"
            raise ConfigurationError(
                f"extractor process for {self.spec!r} loaded {found}, "
                f"not {self.extractor.extractor_id!r}"
            )
        self._ready = True
        return child

    def _discard(self) -> None:
        child, self._child = self._child, None
        self._ready = False
        if child is not None:
            child.stop()


class _Gone(Exception):
    """The child overran, died or broke the pipe; it must not be asked again."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Child:
    """One child process and the two pipes to it; ``stop`` ends it for good (also at GC/exit)."""

    def __init__(self, process: subprocess.Popen[bytes], requests: Connection, replies: Connection):
        self._process = process
        self._requests = requests
        self._replies = replies
        self._finalizer = weakref.finalize(self, _stop, process, requests, replies)

    @classmethod
    def spawn(cls) -> _Child:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        env = dict(os.environ)
        # The child imports the very cardwright this process runs, wherever it was found.
        root = str(Path(cardwright.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", __name__, str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        except OSError:
            os.close(request_write)
            os.close(reply_read)
            raise
        finally:
            # The child's ends now live in the child only, so its exit is our EOF and vice versa.
            os.close(request_read)
            os.close(reply_write)
        requests = Connection(request_write, readable=False)
        return cls(process, requests, Connection(reply_read, writable=False))

    def send_greeting(self, spec: str) -> None:
        """Tell the child what to load (and the import path, for plugged-in extractors); its
        answer is read by ``greeting``."""
        self._send((spec, list(sys.path)), "start")

    def greeting(self, timeout_s: float) -> tuple[str, object]:
        return self._receive(timeout_s, "start")

    def ask(self, snapshot: TopicSnapshot, timeout_s: float) -> tuple[str, object]:
        self._send(_pack(snapshot), "extraction")
        return self._receive(timeout_s, "extraction")

    def kill(self) -> None:
        """SIGKILL, safe from any thread; the thread talking to the child sees it die."""
        if self._process.poll() is None:
            self._process.kill()

    def stop(self, *, kill: bool = False) -> None:
        """End the child: at once with ``kill`` (it is mid-extraction), else after EOF."""
        if kill and self._process.poll() is None:
            self._process.kill()
        self._finalizer()

    def _send(self, message: object, what: str) -> None:
        try:
            # An idle child is blocked reading, so sending completes however large the snapshot.
            self._requests.send(message)
        except OSError:
            self.stop()
            raise _Gone(f"extractor process died during {what} ({_exit(self._process)})") from None

    def _receive(self, timeout_s: float, what: str) -> tuple[str, object]:
        try:
            if not self._replies.poll(timeout_s):
                self.stop(kill=True)
                raise _Gone(
                    f"timed out after {timeout_s}s; extractor process killed", timed_out=True
                )
            reply = self._replies.recv()
        except (EOFError, OSError):
            self.stop()
            raise _Gone(f"extractor process died during {what} ({_exit(self._process)})") from None
        if not (isinstance(reply, tuple) and len(reply) == 2 and isinstance(reply[0], str)):
            self.stop(kill=True)
            raise _Gone(f"extractor process sent a malformed reply during {what}")
        return reply[0], reply[1]


def _stop(process: subprocess.Popen[bytes], requests: Connection, replies: Connection) -> None:
    """Close the pipes (an idle child exits on EOF), then SIGKILL if it has not, and reap it."""
    requests.close()
    replies.close()
    try:
        process.wait(_EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _exit(process: subprocess.Popen[bytes]) -> str:
    code = process.returncode
    return f"signal {-code}" if code < 0 else f"exit status {code}"


# A snapshot as plain tuples: pickling slotted dataclasses per message was most of the hop's cost
# (about 4 ms of 5 for a 200-message topic).
_Packed = tuple[str, str, str, int, list[tuple[str, str, datetime, str]]]


def _pack(snapshot: TopicSnapshot) -> _Packed:
    messages = [(m.message_id, m.role, m.created_at, m.text) for m in snapshot.messages]
    return (
        snapshot.user_id,
        snapshot.topic_id,
        snapshot.conversation_id,
        snapshot.state_version,
        messages,
    )


def _unpack(packed: _Packed) -> TopicSnapshot:
    user_id, topic_id, conversation_id, state_version, messages = packed
    live = tuple(LiveMessage(*message) for message in messages)
    return TopicSnapshot(user_id, topic_id, conversation_id, state_version, live)


# --- the child's side ---------------------------------------------------------------------------


def _serve(requests: Connection, replies: Connection) -> None:
    """Load the extractor named in the first message, then extract until the pipe closes."""
    spec, path = requests.recv()
    sys.path[:] = path
    try:
        extractor = load_extractor(spec)
    except Exception as exc:  # reported to the parent, which raises ConfigurationError
        replies.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    replies.send(("ready", extractor.extractor_id))
    # A metered extractor's drafts come back with their tokens (a Metered), for cost accounting.
    extract = (
        extractor.extract_metered if isinstance(extractor, MeteredExtractor) else extractor.extract
    )
    while True:
        try:
            packed = requests.recv()
        except EOFError:
            return
        try:
            replies.send(("ok", extract(_unpack(packed))))
        except ExtractionFailed as failed:  # its cause and usage; the exception does not pickle
            replies.send(("failed", (failed.cause, failed.usage)))
        except Exception as exc:  # an extractor bug (or unpicklable drafts) fails this topic only
            replies.send(("error", f"{type(exc).__name__}: {exc}"))


def main(argv: list[str]) -> None:
    request_fd, reply_fd = (int(arg) for arg in argv)
    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
    with contextlib.suppress(EOFError, BrokenPipeError):  # the parent is gone: nothing left to do
        _serve(requests, replies)


if __name__ == "__main__":
    main(sys.argv[1:])
