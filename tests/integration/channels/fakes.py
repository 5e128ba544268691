"""A real HTTP server on 127.0.0.1 that plays a provider (Twilio, WeChat, an API-channel
client): it records every request and answers with what the test's handler returns.
And `HeldUow`, a stalled or broken database behind the intake committer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.exc import OperationalError

from jietong.app.platform import Platform
from jietong.storage.uow import UnitOfWork


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


# (status, body) answers as JSON; (status, body, headers) sets the headers itself.
Answer = tuple[int, bytes] | tuple[int, bytes, dict[str, str]]
Handler = Callable[[Seen], Answer]


class FakeProvider:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        fake = self

        class _Http(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                fake.seen.append(seen)
                answer = fake.handler(seen)
                status, body = answer[0], answer[1]
                headers = answer[2] if len(answer) == 3 else {"Content-Type": "application/json"}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FakeProvider]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


class HeldUow:
    """The intake committer's `new_uow`: marks `entered`, holds the writer before its
    transaction begins until `gate` is set (clear at first unless `held` is False), then
    fails `failures` times: a stalled, then broken, database."""

    def __init__(self, platform: Platform, *, held: bool = True) -> None:
        self._platform = platform
        self.gate = threading.Event()
        if not held:
            self.gate.set()
        self.entered = threading.Event()
        self.failures = 0

    def __call__(self) -> UnitOfWork:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("BEGIN", {}, Exception("database unavailable"))
        return self._platform.uow()
