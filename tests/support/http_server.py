"""A local HTTP file server with Range support and a way to drop connections mid-body."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServedFiles:
    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: int | None = None
    """Close the connection after sending this many body bytes (once), to simulate a network drop."""
    honour_range: bool = True
    redirects: dict[str, str] = field(default_factory=dict)
    """path -> Location for a 302 answer."""
    content_types: dict[str, str] = field(default_factory=dict)
    """path -> Content-Type, for clients that care (pip reads only text/html index pages)."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, Range header) of every request, for assertions."""


class _Handler(BaseHTTPRequestHandler):
    served: ServedFiles

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        range_header = self.headers.get("Range")
        self.served.requests.append((self.path, range_header))
        if self.path in self.served.redirects:
            self.send_response(302)
            self.send_header("Location", self.served.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.served.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header and self.served.honour_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        if self.path in self.served.content_types:
            self.send_header("Content-Type", self.served.content_types[self.path])
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if self.served.drop_after is not None:
            limit, self.served.drop_after = self.served.drop_after, None
            self.wfile.write(chunk[:limit])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@contextmanager
def serve(served: ServedFiles) -> Iterator[str]:
    """Serve on 127.0.0.1 at a free port; yields the base URL."""
    handler = type("Handler", (_Handler,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
