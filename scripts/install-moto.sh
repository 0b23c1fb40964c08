#!/usr/bin/env bash
# Installs moto (the AWS emulator, server mode) from PyPI into a venv under the cache folder.
# Idempotent: does nothing when moto_server is already there. Prints its path.
#   BINDERY_CACHE   cache root (default: <repo>/.cache)
#   MOTO_VERSION    exact version (default: 5.2.5, the one the AWS tests were checked with)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/moto"
BIN="$DEST/bin/moto_server"
VERSION="${MOTO_VERSION:-5.2.5}"
if [[ -x "$BIN" ]] && "$DEST/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$VERSION')" 2>/dev/null; then
    echo "moto $VERSION already installed: $BIN"
    exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3-venv is missing: installing it with apt-get" >&2
    apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
fi
echo "installing moto[server]==$VERSION into $DEST ..." >&2
python3 -m venv "$DEST"
"$DEST/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$VERSION"
echo "moto installed: $BIN"
