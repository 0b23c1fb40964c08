#!/usr/bin/env python3
"""A killable app for bindery's fault tests (standard library only).

Answers OPTIONS with 200 (subscribed) and every POST with 200, except a random share of
POSTs (--fail-rate) that get 500. Before answering 200 it appends the request body, one line
per event, to --record with a single O_APPEND write (refused bodies go to --record + ".refused"),
so what the app accepted survives a SIGKILL and a restart. --delay-ms makes each POST slow. Prints "listening <port>" once ready.
"""

import argparse
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    rng_lock = threading.Lock()
    fd = os.open(args.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    refused_fd = os.open(args.record + ".refused", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def _answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_OPTIONS(self):
            self._answer(200)

        def do_GET(self):
            self._answer(200)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            with rng_lock:
                fail = rng.random() < args.fail_rate
            if fail:
                os.write(refused_fd, body.replace(b"\n", b"\\n") + b"\n")
                self._answer(500)
                return
            line = body.replace(b"\n", b"\\n") + b"\n"
            os.write(fd, line)
            self._answer(200)

        do_PUT = do_POST

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening {args.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
