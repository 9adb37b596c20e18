"""A local callback receiver: records every delivery and can refuse the first ones."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Delivery:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    refuse: int = 0
    """Answer this many deliveries with HTTP 500 before accepting."""
    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""

    @property
    def accepted(self) -> list[Delivery]:
        return self.deliveries[self.refuse:]


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.receiver.deliveries.append(Delivery(self.command, self.path, headers, body))
        self.send_response(500 if len(self.receiver.deliveries) <= self.receiver.refuse else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.do_POST()


@contextmanager
def receive_callbacks(refuse: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(refuse)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"receiver": receiver}))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
