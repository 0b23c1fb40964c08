"""Drives bindery's gRPC API with the official Dapr Python SDK client and prints what the SDK got
back as one JSON document on stdout. The Rust test (tests/sdk_python.rs) checks it, and what
reached the component.

Env: DAPR_HTTP_PORT, DAPR_GRPC_PORT (read by the SDK), BINDING (the localstorage component).
"""

import json
import os
import sys

import grpc
from dapr.clients import DaprClient

binding = os.environ["BINDING"]


def call(client, name, operation, data="", metadata=None):
    try:
        r = client.invoke_binding(name, operation, data=data, binding_metadata=metadata or {})
    except grpc.RpcError as e:
        return {"error": {"code": e.code().name, "details": e.details()}}
    headers = {}
    for key, value in (r.headers or {}).items():
        headers[key] = value if isinstance(value, str) else list(value)
    return {
        "text": r.text(),
        "binding_metadata": dict(r.binding_metadata),
        "headers": {k: v for k, v in headers.items() if k.startswith("metadata.")},
    }


out = {}
with DaprClient() as d:
    out["create"] = call(d, binding, "create", data="hello from python",
                         metadata={"fileName": "py.txt"})
    out["create_bytes"] = call(d, binding, "create", data=b'{"raw": true}',
                               metadata={"fileName": "raw.json"})
    out["get"] = call(d, binding, "get", metadata={"fileName": "py.txt"})
    out["unknown"] = call(d, "nope", "create", data="x")
    out["unsupported"] = call(d, binding, "explode")
    out["missing_file"] = call(d, binding, "get", metadata={"fileName": "absent.txt"})
    try:
        meta = d.get_metadata()
    except grpc.RpcError as e:
        out["metadata"] = {"error": {"code": e.code().name, "details": e.details()}}
        sys.stdout.write("RESULT " + json.dumps(out) + "\n")
        sys.exit(0)
    out["metadata"] = {
        "application_id": meta.application_id,
        "extended": dict(meta.extended_metadata),
        "components": sorted(
            [{"name": c.name, "type": c.type, "capabilities": list(c.capabilities)}
             for c in meta.registered_components],
            key=lambda c: c["name"],
        ),
    }
    d.set_metadata("pythonKey", "pythonValue")
    out["extended_after_set"] = dict(d.get_metadata().extended_metadata)

sys.stdout.write("RESULT " + json.dumps(out) + "\n")
