#!/usr/bin/env bash
# Installs Tansu (a Kafka-protocol broker written in Rust) from crates.io into a cache folder,
# for the Kafka tests. Idempotent: does nothing when the binary is already there.
# The first install compiles Tansu from source: 7 to 12 minutes on a 2-core machine, once.
#   BINDERY_CACHE   cache root (default: <repo>/.cache)
#   TANSU_VERSION   exact version to install (default: 0.6.0, the one the tests were checked with)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/tansu"
BIN="$DEST/bin/tansu"
VERSION="${TANSU_VERSION:-0.6.0}"
if [[ -x "$BIN" ]]; then
    echo "tansu already installed: $BIN"
    exit 0
fi
mkdir -p "$DEST"
cat >&2 <<EOF
installing tansu $VERSION (the Kafka-protocol broker the Kafka tests use) into $DEST:
  cargo downloads it from crates.io and compiles it, which takes 7 to 12 minutes on a 2-core
  machine. This happens once: later runs reuse $BIN.
EOF
started=$SECONDS
# A private target dir so this build never locks (or pollutes) a project target dir. The bin
# folder goes on PATH for this one command: cargo then has no reason to warn that it is not on
# PATH (the scripts run tansu by its full path; nobody needs it on PATH).
PATH="$DEST/bin:$PATH" CARGO_TARGET_DIR="$DEST/build" \
    cargo install tansu --locked --features dynostore --version "$VERSION" --root "$DEST"
rm -rf "$DEST/build"
echo "tansu installed in $((SECONDS - started)) s: $BIN" >&2
