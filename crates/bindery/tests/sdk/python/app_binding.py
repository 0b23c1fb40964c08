"""A gRPC app built with the official Dapr Python SDK extension (`dapr.ext.grpc.App`) that
subscribes to input bindings. Each event it receives is appended to $OUT as one JSON line; the
`failing` binding's handler raises, which the SDK turns into an error status.

Env: APP_PORT (where the app listens), OUT (the events file), BINDING, FAILING; with TLS_CERT
and TLS_KEY (PEM files) the app serves TLS, for `--app-protocol grpcs`.
"""

import json
import os
import threading

from dapr.ext.grpc import App, BindingRequest

app = App()
out_path = os.environ["OUT"]
lock = threading.Lock()


def record(name, request: BindingRequest):
    token = request.metadata.get("dapr-api-token")
    if isinstance(token, (list, tuple)):
        token = token[0] if token else None
    line = {
        "binding": name,
        "text": request.text(),
        "binding_metadata": dict(request.binding_metadata),
        "token": token,
    }
    with lock, open(out_path, "a") as f:
        f.write(json.dumps(line) + "\n")


@app.binding(os.environ["BINDING"])
def on_event(request: BindingRequest):
    record(os.environ["BINDING"], request)


@app.binding(os.environ["FAILING"])
def on_failing(request: BindingRequest):
    record(os.environ["FAILING"], request)
    raise RuntimeError("the app refuses this event")


if os.environ.get("TLS_CERT"):
    import grpc

    with open(os.environ["TLS_KEY"], "rb") as k, open(os.environ["TLS_CERT"], "rb") as c:
        credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
    # App.run only listens in plaintext; its server is the same either way.
    app._server.add_secure_port(f"127.0.0.1:{os.environ['APP_PORT']}", credentials)
    app._server.start()
    app._server.wait_for_termination()
else:
    app.run(int(os.environ["APP_PORT"]))
