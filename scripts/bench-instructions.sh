#!/usr/bin/env bash
# Instructions per request through bindery's HTTP API, counted by callgrind, for comparisons
# that do not depend on the machine's load (BENCHMARKS.md, "CPU: instructions per request").
#
#   scripts/bench-instructions.sh BINARY [REQUESTS]     (default 2000)
#
# Starts BINARY under `valgrind --tool=callgrind --instr-atstart=no` with one `bindings.http`
# component posting to a keep-alive HTTP/1.1 server (Python), sends 300 requests of warm-up,
# then counts REQUESTS `post` calls with 1 KiB of data and REQUESTS `get` calls, each over one
# kept-alive connection. Prints Ir per request; the callgrind files stay in the work folder
# (BENCH_OUT, default target/bench/instructions) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:?usage: $0 BINARY [REQUESTS]}")
n=${2:-2000}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
work="${BENCH_OUT:-target/bench}/instructions"
rm -rf "$work" && mkdir -p "$work/resources"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
app_port=$(free_port)
api_port=$(free_port)

python3 - "$app_port" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    do_GET = do_POST = answer
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
PY
app_pid=$!
cat > "$work/resources/http.yaml" <<YAML
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-http
spec:
  type: bindings.http
  version: v1
  metadata:
  - name: url
    value: "http://127.0.0.1:$app_port/out"
YAML
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.%p.out" \
  "$bin" --app-id bench --dapr-http-port "$api_port" --dapr-grpc-port 0 --metrics-port 0 \
  --dapr-listen-addresses 127.0.0.1 --resources-path "$work/resources" > "$work/bindery.log" 2>&1 &
valgrind_pid=$!
trap 'kill $valgrind_pid $app_pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api_port/v1.0/healthz")" = 204 ] && break
  sleep 0.1
done

send() { # count body
  python3 - "$api_port" "$1" "$2" <<'PY'
import http.client, sys
port, n, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("POST", "/v1.0/bindings/bench-http", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status // 100 != 2: sys.exit(f"status {r.status}")
PY
}
post=$(python3 -c 'import json;print(json.dumps({"data":"x"*1024,"operation":"post"}))')
send 300 "$post"
for op in post get; do
  body=$post; [ $op = get ] && body='{"operation":"get"}'
  callgrind_control -z $valgrind_pid >/dev/null 2>&1
  callgrind_control -i on $valgrind_pid >/dev/null 2>&1
  send "$n" "$body"
  callgrind_control -i off $valgrind_pid >/dev/null 2>&1
  callgrind_control -d "$op" $valgrind_pid >/dev/null 2>&1
  sleep 1
  file=$(ls -t "$work"/callgrind.*.out.* | head -1)
  ir=$(awk '/^totals:/{print $2}' "$file")
  echo "$op: $ir Ir over $n requests = $((ir / n)) Ir/request ($file)"
done
