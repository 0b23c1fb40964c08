#!/usr/bin/env bash
# Installs Azurite (Microsoft's Azure Storage emulator, npm `azurite`) into a cache prefix, for
# the azure.blobstorage and azure.storagequeues tests. Idempotent: a stamp file records the
# installed version and a second run with the same pin does nothing. Needs node >= 18.
#   BINDERY_CACHE     cache root (default: <repo>/.cache); Azurite lands in <cache>/azurite
#   AZURITE_VERSION   exact version (default: 3.37.0, the one the tests were checked with)
# The tests start it themselves (crates/testkit/src/azurite.rs) from
# <cache>/azurite/node_modules/.bin/azurite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/azurite"
VERSION="${AZURITE_VERSION:-3.37.0}"
STAMP="$DEST/.bindery-installed"
BIN="$DEST/node_modules/.bin/azurite"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" && -x "$BIN" ]]; then
    echo "azurite $VERSION already installed: $BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: install node >= 18 to run the Azure storage tests" >&2
    exit 1
fi
echo "installing azurite $VERSION into $DEST ..." >&2
mkdir -p "$DEST"
npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error "azurite@$VERSION"
"$BIN" --version >/dev/null
printf '%s' "$VERSION" > "$STAMP"
echo "azurite installed: $BIN"
