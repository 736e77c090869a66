"""A pod's HTTP server (run inside a network namespace by tests/e2e/pods.py).

Usage: pod_server.py ADDRESS PORT NAME. Answers every GET on PORT with NAME, and on PORT + 1
with NAME:PORT+1, so a test can tell which pod and which port a request reached.
"""

from __future__ import annotations

import http.server
import sys
import threading


def serve(address: str, port: int, body: bytes) -> http.server.ThreadingHTTPServer:
    """A server answering every GET with `body` (not started)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer((address, port), Handler)


if __name__ == "__main__":
    address, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    second = serve(address, port + 1, f"{name}:{port + 1}".encode())
    threading.Thread(target=second.serve_forever, daemon=True).start()
    serve(address, port, name.encode()).serve_forever()
