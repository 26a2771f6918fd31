"""A test host's web server, run inside the host's network namespace by netlab.py.

Answers every request with JSON describing it (which server, method, path, headers,
body) and appends one line per request to its hit log, so a test can prove a request
never arrived. `/redirect?to=URL` answers 302 to URL; `/bytes?n=N` answers N bytes.
Prints "ready" once listening. Usage: netlab_server.py NAME ADDRESS PORT LOG [CERT KEY]
"""

from __future__ import annotations

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import AF_INET6
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def main() -> None:
    name, address, port, log_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    tls = sys.argv[5:7]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"method": self.command, "path": self.path}) + "\n")
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if url.path == "/bytes":
                payload = b"x" * int(query["n"][0])
                content_type = "application/octet-stream"
            else:
                described = {
                    "server": name,
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace"),
                }
                payload, content_type = json.dumps(described).encode(), "application/json"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Test-Server", name)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    if ":" in address:
        _Server.address_family = AF_INET6
    server = _Server((address, port), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[0], tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
