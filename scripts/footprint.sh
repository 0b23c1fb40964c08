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
#
#   FOOTPRINT_READAHEAD_KB=128 scripts/footprint.sh ...
#                                         also measures each copy started from a cold page cache
#                                         on a scratch ext4 (a loop device, root only) whose
#                                         read-ahead is that many KiB, beside the warm run
# Why: how much of the binary is resident depends on the page cache, not only on the binary.
# Linux 6.18 maps a whole large folio at each fault, and read-ahead decides the folios' sizes:
# this VM's disk reads ahead 8 MiB (`/sys/block/vda/queue/read_ahead_kb`), where 128 KiB is the
# common default, and a freshly linked binary sits in folios of up to 2 MiB written by the
# linker. The scratch device is the machine's own disk untouched, and it is removed at exit.
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

readahead_kb="${FOOTPRINT_READAHEAD_KB:-}"
if [ -n "$readahead_kb" ]; then
  scratch=$(mktemp -d /var/tmp/bindery-footprint.XXXXXX)
  loop=""
  cleanup() {
    umount "$scratch/mnt" 2>/dev/null || true
    [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
    rm -rf "$scratch"
  }
  trap cleanup EXIT
  truncate -s 1G "$scratch/disk.img"
  mkfs.ext4 -q -F "$scratch/disk.img"
  loop=$(losetup --find --show "$scratch/disk.img")
  echo "$readahead_kb" > "/sys/block/${loop#/dev/}/queue/read_ahead_kb"
  mkdir -p "$scratch/mnt"
  mount "$loop" "$scratch/mnt"
  for build in "${builds[@]}"; do
    cp "$bins/bindery-$build" "$scratch/mnt/bindery-$build"
  done
  # A fresh mount holds none of the copies in its page cache: each first start reads its binary
  # through this device's read-ahead, as a node does after pulling an image.
  umount "$scratch/mnt"
  mount "$loop" "$scratch/mnt"
  for build in "${builds[@]}"; do
    args+=("$build, cold, read-ahead ${readahead_kb}k=$scratch/mnt/bindery-$build")
  done
  "$target_dir/release/bindery-bench" footprint --out "$out" "${args[@]}"
else
  exec "$target_dir/release/bindery-bench" footprint --out "$out" "${args[@]}"
fi
