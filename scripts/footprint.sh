#!/usr/bin/env bash
# Binary size and idle RSS per build (BENCHMARKS.md, "Footprint per build"): builds release
# `bindery` once per feature set, keeps a copy of each binary, then runs
# `bindery-bench footprint`, which starts each copy with one `bindings.http` component and
# measures it 1 s after ready. Results in target/bench/footprint.{md,json}.
#
#   scripts/footprint.sh                  every build below (each is a fat-LTO release build)
#   scripts/footprint.sh http no-aws      only these builds
#   FOOTPRINT_SKIP_BUILD=1 scripts/footprint.sh
#                                         measure the copies already in target/bench/bins
#
# Builds: all (every binding), http (the http binding alone), no-aws (every binding but the AWS
# ones), no-azure (every binding but the Azure ones).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
out="${BENCH_OUT:-target/bench}"
bins="$out/bins"
mkdir -p "$bins"

# Every binding feature of the bindery package except the AWS and Azure groups.
common="cron,localstorage,http,redis,postgres,mysql,rabbitmq,mqtt3,nats,kafka,smtp,twilio,graphql,sftp,lockredis"
features_of() {
  case "$1" in
    all) echo "all-bindings" ;;
    http) echo "http" ;;
    no-aws) echo "$common,azure" ;;
    no-azure) echo "$common,aws" ;;
    *) echo "unknown build $1 (all, http, no-aws, no-azure)" >&2; exit 2 ;;
  esac
}

builds=("$@")
if [ ${#builds[@]} -eq 0 ]; then
  builds=(all http no-aws no-azure)
fi

for build in "${builds[@]}"; do
  features=$(features_of "$build")
  if [ -z "${FOOTPRINT_SKIP_BUILD:-}" ]; then
    echo "== building $build: --no-default-features --features $features"
    cargo build --release -p bindery --no-default-features --features "$features"
    cp "$target_dir/release/bindery" "$bins/bindery-$build"
  fi
done

echo "== building bindery-bench"
cargo build --release -p bindery-bench

args=()
for build in "${builds[@]}"; do
  args+=("$build=$bins/bindery-$build")
done
exec "$target_dir/release/bindery-bench" footprint --out "$out" "${args[@]}"
