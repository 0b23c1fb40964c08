"""The Dapr bindings quickstart's batch service, Python SDK variant (gRPC both ways).

The app is a `dapr.ext.grpc.App` that receives the cron binding over gRPC and writes each
order with `DaprClient().invoke_binding` over gRPC.
"""
import json
import os

from dapr.clients import DaprClient
from dapr.ext.grpc import App, BindingRequest

app = App()
ORDERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "orders.json")


@app.binding("cron")
def cron_binding(request: BindingRequest):
    print("Processing batch..", flush=True)
    with open(ORDERS) as f:
        for order in json.load(f)["orders"]:
            sql = "insert into orders (orderid, customer, price) values (%s, '%s', %s)" % (
                order["orderid"], order["customer"], order["price"])
            print(json.dumps({"sql": sql}), flush=True)
            with DaprClient() as d:
                d.invoke_binding(binding_name="sqldb", operation="exec",
                                 binding_metadata={"sql": sql}, data="")
    print("Finished processing batch", flush=True)


app.run(int(os.getenv("APP_PORT", "50051")))
