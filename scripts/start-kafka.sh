#!/usr/bin/env bash
# Starts a Tansu broker (Kafka protocol, in-memory storage) on 127.0.0.1:${KAFKA_PORT:-9092}.
# Idempotent: does nothing when something already answers on that port. Installs Tansu first
# (scripts/install-tansu.sh) when it is missing. Exits non-zero when the broker does not come up
# within 30 seconds. Memory storage keeps nothing across restarts.
#   BINDERY_CACHE   cache root (default: <repo>/.cache); the log is $BINDERY_CACHE/tansu/broker-PORT.log
#   KAFKA_PORT      listener port (default 9092)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BINDERY_CACHE:-$ROOT/.cache}/tansu"
PORT="${KAFKA_PORT:-9092}"
BIN="$CACHE/bin/tansu"

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

mkdir -p "$CACHE"
# One starter at a time (tests running in parallel may all call this script).
exec 9>"$CACHE/start-$PORT.lock"
flock 9
if port_open; then
    echo "kafka (tansu) already listening on 127.0.0.1:$PORT"
    exit 0
fi
if [[ ! -x "$BIN" ]]; then
    "$ROOT/scripts/install-tansu.sh"
fi
LOG="$CACHE/broker-$PORT.log"
URL="tcp://127.0.0.1:$PORT"
nohup "$BIN" broker \
    --listener-url "$URL" \
    --advertised-listener-url "$URL" \
    --storage-engine memory://tansu/ \
    >"$LOG" 2>&1 </dev/null 9>&- &
PID=$!
echo "$PID" >"$CACHE/broker-$PORT.pid"
for _ in $(seq 1 60); do
    if port_open; then
        echo "kafka (tansu) started on 127.0.0.1:$PORT (pid $PID, log $LOG)"
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
echo "ERROR: tansu did not come up on 127.0.0.1:$PORT within 30s; last log lines from $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
