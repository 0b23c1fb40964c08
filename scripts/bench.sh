#!/usr/bin/env bash
# Benchmarks bindery against a direct client (see BENCHMARKS.md for the method).
#
#   scripts/bench.sh            full run (about 4 minutes), results in target/bench/results.{md,json}
#   scripts/bench.sh --smoke    every scenario at tiny counts (a few seconds), target/bench/smoke.*
#
# Environment: BENCH_SECONDS (measured window per fixed-rate run, default 20), BENCH_WARMUP (5),
# BENCH_QPS (1000), BENCH_CONNECTIONS (16), BENCH_PAYLOAD (1024), BENCH_SAT_SECONDS (10),
# BENCH_SAT_CONNECTIONS (64), BENCH_INPUT_MESSAGES (20000), BENCH_READY_RUNS (20),
# BENCH_PERF_DIR (attach `perf record` to bindery and write the profiles there),
# BENCH_BINDERY_ENV (`K=V,K=V` environment for bindery only, for experiments),
# REDIS_ADDR (127.0.0.1:6379), RABBITMQ_URL (amqp://guest:guest@127.0.0.1:5672/%2f),
# BENCH_OUT (target/bench).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=(--smoke) ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-target}"
out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"

echo "== building release bindery and bindery-bench"
# Built one at a time so the bench crate's dependencies cannot change bindery's feature set.
cargo build --release -p bindery
cargo build --release -p bindery-bench

redis_addr="${REDIS_ADDR:-127.0.0.1:6379}"
rabbit_url="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
rabbit_hostport="${rabbit_url#*@}"
rabbit_hostport="${rabbit_hostport%%/*}"
check() { # name host:port
  local host="${2%:*}" port="${2##*:}"
  if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "$1 is not reachable at $2 (scripts/services.sh starts the local servers)" >&2
    exit 1
  fi
  echo "== $1 reachable at $2"
}
check redis "$redis_addr"
check rabbitmq "$rabbit_hostport"

echo "== running the scenarios"
exec "$target_dir/release/bindery-bench" run "${smoke[@]}" \
  --bindery "$target_dir/release/bindery" --out "$out"
