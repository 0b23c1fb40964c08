#!/usr/bin/env bash
# Installs Tansu (a Kafka-protocol broker written in Rust) from crates.io into a cache folder.
# Idempotent: does nothing when the binary is already there. Prints the binary's path.
#   BINDERY_CACHE   cache root (default: <repo>/.cache)
#   TANSU_VERSION   exact version to install (default: 0.6.0, the one the tests were checked with)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/tansu"
BIN="$DEST/bin/tansu"
if [[ -x "$BIN" ]]; then
    echo "tansu already installed: $BIN"
    exit 0
fi
mkdir -p "$DEST"
echo "installing tansu into $DEST (takes several minutes) ..." >&2
VERSION_ARGS=(--version "${TANSU_VERSION:-0.6.0}")
# A private target dir so this build never locks (or pollutes) a project target dir.
CARGO_TARGET_DIR="$DEST/build" cargo install tansu --locked --features dynostore \
    "${VERSION_ARGS[@]}" --root "$DEST"
rm -rf "$DEST/build"
echo "tansu installed: $BIN"
