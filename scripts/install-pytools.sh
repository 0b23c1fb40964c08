#!/usr/bin/env bash
# Installs the Python test servers of the notify bindings (smtp, graphql) into one venv:
# aiosmtpd (a real SMTP server library) and graphql-core (the reference GraphQL implementation).
# Idempotent: does nothing when the venv already has both. Prints the venv's python.
#   BINDERY_CACHE   cache root (default: <repo>/.cache); the venv is $BINDERY_CACHE/pytools
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BINDERY_CACHE:-$ROOT/.cache}/pytools"
PY="$DEST/bin/python"
PACKAGES=("aiosmtpd==1.4.6" "graphql-core==3.2.6")
if [[ -x "$PY" ]] && "$PY" -c "import aiosmtpd, graphql" 2>/dev/null; then
    echo "pytools already installed: $PY"
    exit 0
fi
echo "creating venv $DEST with ${PACKAGES[*]}" >&2
mkdir -p "$(dirname "$DEST")"
python3 -m venv "$DEST"
"$PY" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
echo "pytools installed: $PY"
