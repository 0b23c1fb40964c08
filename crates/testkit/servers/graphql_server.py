"""A GraphQL server for the graphql binding's tests: graphql-core (the reference
implementation's Python port) behind the standard library's HTTP server.

POST /graphql takes {"query", "variables", "operationName"} as JSON and answers
{"data", "errors"} as the GraphQL-over-HTTP convention has it: 200 when the document
executed (resolver errors included), 400 when it does not parse or validate. GET answers
405. Two more paths help error tests: /broken answers 500 with plain text, /html answers
200 with an HTML page. The `header(name)` query returns a request header, so a test sees
what the client sent. Prints "READY" once it listens.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from graphql import build_schema, graphql_sync, parse, validate, GraphQLError

SDL = """
type Book { id: ID!, title: String!, author: String }
type Query {
  hello(name: String): String
  header(name: String!): String
  books: [Book!]!
  book(id: ID!): Book
  fail: String
}
type Mutation {
  addBook(title: String!, author: String): Book!
}
"""

SCHEMA = build_schema(SDL)
BOOKS = [{"id": "1", "title": "Dune", "author": "Frank Herbert"}]
LOCK = threading.Lock()


class Root:
    def hello(self, info, name=None):
        return "Hello, %s!" % (name or "world")

    def header(self, info, name):
        return info.context["headers"].get(name)

    def books(self, info):
        with LOCK:
            return list(BOOKS)

    def book(self, info, id):
        with LOCK:
            return next((b for b in BOOKS if b["id"] == id), None)

    def fail(self, info):
        raise Exception("the resolver failed on purpose")

    def addBook(self, info, title, author=None):
        with LOCK:
            book = {"id": str(len(BOOKS) + 1), "title": title, "author": author}
            BOOKS.append(book)
            return book


ROOT = Root()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send(405, json.dumps({"errors": [{"message": "use POST"}]}))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/broken":
            return self.send(500, "internal failure", "text/plain")
        if self.path == "/html":
            return self.send(200, "<html><body>not graphql</body></html>", "text/html")
        if self.path != "/graphql":
            return self.send(404, "not found", "text/plain")
        try:
            request = json.loads(raw)
        except ValueError:
            return self.send(400, json.dumps({"errors": [{"message": "body is not JSON"}]}))
        query = request.get("query") or ""
        try:
            document = parse(query)
        except GraphQLError as e:
            return self.send(400, json.dumps({"errors": [e.formatted]}))
        problems = validate(SCHEMA, document)
        if problems:
            return self.send(400, json.dumps({"errors": [p.formatted for p in problems]}))
        headers = self.headers  # case-insensitive, as HTTP header names are
        result = graphql_sync(
            SCHEMA,
            query,
            root_value=ROOT,
            variable_values=request.get("variables"),
            operation_name=request.get("operationName"),
            context_value={"headers": headers},
        )
        body = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        self.send(200, json.dumps(body))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("READY", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
