#!/usr/bin/env bash
# Installs cargo-fuzz (the libFuzzer driver for `fuzz/`) from crates.io into the cache folder.
# Idempotent: does nothing when that version is already there. Prints its path.
# A first install compiles it: 4 minutes on a shared 2-core VM (1.7 minutes of CPU).
#   BINDERY_CACHE        cache root (default: <repo>/.cache)
#   CARGO_FUZZ_VERSION   exact version (default: 0.13.2, the one fuzz/ was run with)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/cargo-fuzz"
BIN="$DEST/bin/cargo-fuzz"
VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
if [[ -x "$BIN" ]] && [[ "$("$BIN" fuzz --version 2>/dev/null)" == "cargo-fuzz $VERSION" ]]; then
    echo "cargo-fuzz $VERSION already installed: $BIN"
    exit 0
fi
echo "installing cargo-fuzz $VERSION into $DEST ..." >&2
# Its own target folder, so the install neither reuses nor fills the workspace's.
CARGO_TARGET_DIR="$DEST/build" cargo install --quiet --root "$DEST" cargo-fuzz --version "=$VERSION" --locked
rm -rf "$DEST/build"
echo "cargo-fuzz installed: $BIN"
