"""The Dapr bindings quickstart's batch service, raw HTTP variant, standard library only.

Every cron tick (POST /cron) inserts the three orders of orders.json through the `sqldb`
PostgreSQL output binding. Like the quickstart's own app it posts the JSON body without a
Content-Type header: daprd (and bindery) do not check it.
"""
import http.client
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

APP_PORT = int(os.getenv("APP_PORT", "5001"))
DAPR_PORT = int(os.getenv("DAPR_HTTP_PORT", "3500"))
ORDERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "orders.json")


def sql_output(order):
    sql = "insert into orders (orderid, customer, price) values (%s, '%s', %s)" % (
        order["orderid"], order["customer"], order["price"])
    payload = '{"operation": "exec", "metadata": {"sql" : "%s"} }' % sql
    print(payload, flush=True)
    connection = http.client.HTTPConnection("localhost", DAPR_PORT)
    connection.putrequest("POST", "/v1.0/bindings/sqldb")
    connection.putheader("Content-Length", str(len(payload)))
    connection.endheaders()  # deliberately no Content-Type
    connection.send(payload.encode())
    response = connection.getresponse()
    response.read()
    if response.status >= 300:
        print(f"insert failed: {response.status}", flush=True)
    connection.close()


class Batch(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/cron":
            self.send_response(404)
            self.end_headers()
            return
        print("Processing batch..", flush=True)
        with open(ORDERS) as f:
            for order in json.load(f)["orders"]:
                sql_output(order)
        print("Finished processing batch", flush=True)
        body = json.dumps({"success": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    try:
        HTTPServer(("127.0.0.1", APP_PORT), Batch).serve_forever()
    except KeyboardInterrupt:  # Ctrl-C stops the app quietly
        pass
