#!/usr/bin/env python3
"""An HTTPS sink for the OTLP TLS tests: serves on 127.0.0.1 (free port)
with CERT and KEY, answers every POST with 200 and an empty body, prints
its port on the first line of stdout, then one line per request
("POST <path> <content-type> <body length>"). Runs until killed.

Usage: tls_sink.py CERT KEY
"""

import http.server
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        print(
            "POST", self.path, self.headers.get("Content-Type"), len(body), flush=True
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
