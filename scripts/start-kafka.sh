#!/usr/bin/env bash
# Starts a Tansu broker (Kafka protocol, in-memory storage) on 127.0.0.1:${KAFKA_PORT:-9092}.
# Idempotent: does nothing when something already answers on that port. Installs Tansu first
# (scripts/install-tansu.sh) when it is missing. Exits non-zero when the broker does not come up
# within 30 seconds. Memory storage keeps nothing across restarts.
#
#   scripts/start-kafka.sh          start (or find) the broker
#   scripts/start-kafka.sh stop     stop the broker this script started on that port (the one in
#                                   its pid file, only if that process is a Tansu broker);
#                                   anything else listening there is left alone
#
#   BINDERY_CACHE   cache root (default: <repo>/.cache); the log is $BINDERY_CACHE/tansu/broker-PORT.log
#   KAFKA_PORT      listener port (default 9092)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BINDERY_CACHE:-$ROOT/.cache}/tansu"
PORT="${KAFKA_PORT:-9092}"
BIN="$CACHE/bin/tansu"
PIDFILE="$CACHE/broker-$PORT.pid"

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# True when $1 is a live process started from our Tansu binary as a broker.
is_our_broker() {
    local cmdline
    cmdline="$(ps -o command= -p "$1" 2>/dev/null)" || return 1
    [[ "$cmdline" == *tansu*broker* ]]
}

stop_broker() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [[ -z "$pid" ]] || ! is_our_broker "$pid"; then
        rm -f "$PIDFILE"
        echo "no tansu broker of ours on 127.0.0.1:$PORT"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        is_our_broker "$pid" || break
        sleep 0.2
    done
    if is_our_broker "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "kafka (tansu) on 127.0.0.1:$PORT stopped (pid $pid)"
}

mkdir -p "$CACHE"
# One starter at a time (tests running in parallel may all call this script).
# (macOS has no flock(1) unless util-linux is installed: there it runs unlocked.)
exec 9>"$CACHE/start-$PORT.lock"
if command -v flock >/dev/null; then flock 9; fi
case "${1:-start}" in
    start) ;;
    stop) stop_broker; exit 0 ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
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
echo "$PID" >"$PIDFILE"
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
