"""A scripted OpenAI-compatible model server for the gateway's tests, on a real socket.

It speaks `POST /v1/chat/completions` as OpenAI's API does (`tools` in, `tool_calls` out,
`usage` figures) and `POST /v1/embeddings` (vectors as floats, or base64 float32 when the
client asks so, as the OpenAI SDK does), and answers chat from a script: each request
takes the next step, a function
of the request's body that returns a chat message (or an `Error`/`Delay`). Every request
body and its `Authorization` header are kept for the test to read.

With `keep_alive`, it keeps connections open between requests as a hosted provider does
(HTTP/1.1), so a benchmark does not charge the gateway a TCP connect per model call;
`busy_s` is the time it spent answering (from the request read to the answer written),
for a benchmark to tell the model server's time from the gateway's.

Embeddings come from `embed`, a function of one input text giving its vector or an
`Error`; every text asked for is kept in `embedded`.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7


@dataclass
class Error:
    status: int
    body: str


@dataclass
class Delay:
    seconds: float
    then: dict[str, Any]


Step = Callable[[dict[str, Any]], "dict[str, Any] | Error | Delay"]


def say(text: str) -> Step:
    return lambda _body: {"role": "assistant", "content": text}


def call(*calls: tuple[str, str]) -> Step:
    """A step asking for tool calls: (name, raw arguments string) each."""
    return lambda _body: {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ],
    }


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool messages' contents the model was sent in this request, last step's only."""
    found: list[str] = []
    for message in reversed(body["messages"]):
        if message["role"] != "tool":
            break
        found.insert(0, message["content"])
    return found


class ScriptedLLM:
    def __init__(self, *, keep_alive: bool = False) -> None:
        self.keep_alive = keep_alive
        self.busy_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.embed: Callable[[str], list[float] | Error] = lambda _text: Error(
            404, '{"error": {"message": "no embedding model"}}'
        )
        self.embedded: list[str] = []
        self._script: list[Step] = []
        self._forever: Step | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *steps: Step, forever: Step | None = None) -> None:
        with self._lock:
            self._script = list(steps)
            self._forever = forever
            self.requests.clear()
            self.authorizations.clear()

    def _next(self, body: dict[str, Any], auth: str) -> dict[str, Any] | Error | Delay:
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(auth)
            step = self._script.pop(0) if self._script else self._forever
        if step is None:
            return Error(500, '{"error": {"message": "script exhausted"}}')
        return step(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if llm.keep_alive else "HTTP/1.0"
            # Headers and body go out in two writes: on a kept connection, Nagle would hold
            # the body for the client's delayed ACK (40 ms a request).
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                started = time.perf_counter()
                try:
                    self._answer(json.loads(raw))
                finally:
                    with llm._lock:
                        llm.busy_s += time.perf_counter() - started

            def _answer(self, body: dict[str, Any]) -> None:
                if self.path == "/v1/embeddings":
                    self._embeddings(body)
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, '{"error": {"message": "not found"}}')
                    return
                answer = llm._next(body, self.headers.get("Authorization", ""))
                if isinstance(answer, Delay):
                    time.sleep(answer.seconds)
                    answer = answer.then
                if isinstance(answer, Error):
                    self._send(answer.status, answer.body)
                    return
                finish = "tool_calls" if answer.get("tool_calls") else "stop"
                if body.get("stream"):
                    self._stream(body["model"], answer, finish)
                    return
                self._send(200, json.dumps(_completion(body["model"], answer, finish)))

            def _stream(self, model: str, message: dict[str, Any], finish: str) -> None:
                """Server-sent events as OpenAI streams them: the text word by word, each
                tool call whole, the finish, then the usage; the connection closes at the end."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # the end of the stream is its close
                self.close_connection = True
                self.end_headers()
                for chunk in _chunks(model, message, finish):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def _embeddings(self, body: dict[str, Any]) -> None:
                texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
                data: list[dict[str, Any]] = []
                for i, text in enumerate(texts):
                    with llm._lock:
                        llm.embedded.append(text)
                    vector = llm.embed(text)
                    if isinstance(vector, Error):
                        self._send(vector.status, vector.body)
                        return
                    encoded: Any = vector
                    if body.get("encoding_format") == "base64":
                        packed = struct.pack(f"<{len(vector)}f", *vector)
                        encoded = base64.b64encode(packed).decode()
                    data.append({"object": "embedding", "index": i, "embedding": encoded})
                usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
                answer = {"object": "list", "data": data, "model": body["model"], "usage": usage}
                self._send(200, json.dumps(answer))

            def _send(self, status: int, text: str) -> None:
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


def _chunks(model: str, message: dict[str, Any], finish: str) -> list[dict[str, Any]]:
    words = [w + " " for w in (message.get("content") or "").split(" ")]
    if words:
        words[-1] = words[-1][:-1]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": w} for w in words if w]
    deltas += [
        {"role": "assistant", "tool_calls": [dict(call, index=i)]}
        for i, call in enumerate(message.get("tool_calls") or [])
    ]
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "model": model}
    base["created"] = int(time.time())
    found = [base | {"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    found.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    usage = _completion(model, message, finish)["usage"]
    found.append(base | {"choices": [], "usage": usage})
    return found


def _completion(model: str, message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }
