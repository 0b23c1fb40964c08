"""A tiny app for bindery, standard library only.

bindery calls POST /tick on every cron tick; the app answers 200 (which acknowledges the event)
and writes a file through the `files` output binding.
"""
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

APP_PORT = int(os.environ.get("APP_PORT", "8080"))
SIDECAR = f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"
ticks = 0


def invoke(binding, operation, data, metadata):
    body = json.dumps({"operation": operation, "data": data, "metadata": metadata}).encode()
    request = urllib.request.Request(f"{SIDECAR}/v1.0/bindings/{binding}", data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        return response.status, response.read().decode()


class Handler(BaseHTTPRequestHandler):
    def do_OPTIONS(self):  # bindery asks whether we want the binding's events
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        global ticks
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path != "/tick":
            self.send_response(404)
            self.end_headers()
            return
        ticks += 1
        status, answer = invoke(
            "files", "create",
            {"tick": ticks, "readTimeUTC": self.headers.get("readTimeUTC")},
            {"fileName": f"tick-{ticks}.json"},
        )
        print(f"tick {ticks} at {self.headers.get('readTimeUTC')}: files.create -> {status} {answer}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    print(f"hello app listening on {APP_PORT}, sidecar at {SIDECAR}", flush=True)
    try:
        HTTPServer(("127.0.0.1", APP_PORT), Handler).serve_forever()
    except KeyboardInterrupt:  # Ctrl-C stops the app quietly
        pass
