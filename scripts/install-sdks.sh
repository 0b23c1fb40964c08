#!/usr/bin/env bash
# Installs the official Dapr SDKs the SDK tests drive (crates/bindery/tests/sdk_*.rs), at pinned
# versions, from PyPI and npm. Idempotent: a stamp file records what is installed, and a second
# run with the same pins does nothing.
#
#   <cache>/sdk/python   a venv with the Dapr Python SDK; from 1.19 the gRPC app extension
#                        (`dapr.ext.grpc`) ships inside `dapr` itself as the `grpc` extra, and the
#                        separate `dapr-ext-grpc` package (last 1.18.3) would overwrite its files,
#                        so it is not installed.
#   <cache>/sdk/js       node_modules with @dapr/dapr (needs Node.js 18 or newer).
#
# <cache> is $BINDERY_CACHE, or .cache at the repository root. The first run downloads from
# PyPI and npm (about a minute); later runs do nothing.
#
# Without Node.js 18+, `install-sdks.sh` (all) says so and skips the JS SDK, so the JS SDK tests
# print SKIP; under CI=true it fails instead. `install-sdks.sh js` always fails without it.
set -euo pipefail

PYTHON_SDK="dapr[grpc]==1.19.0"
JS_SDK="@dapr/dapr@3.18.0"

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${BINDERY_CACHE:-$root/.cache}"
python_dir="$cache/sdk/python"
js_dir="$cache/sdk/js"
python_bin="${PYTHON:-python3}"
NODE_HINT="Debian 12: apt-get install nodejs npm; macOS: brew install node; Fedora: dnf install nodejs; or https://nodejs.org"

install_python() {
  local stamp="$python_dir/.bindery-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PYTHON_SDK" ] && [ -x "$python_dir/bin/python" ]; then
    echo "Python SDK already installed: $PYTHON_SDK ($python_dir)"
    return 0
  fi
  echo "Installing the Python SDK $PYTHON_SDK from PyPI into $python_dir"
  rm -rf "$python_dir"
  if ! "$python_bin" -m venv "$python_dir"; then
    echo "$python_bin -m venv failed: Python's venv module is missing (Debian/Ubuntu: apt-get install python3-venv, which scripts/install-deps.sh does)" >&2
    rm -rf "$python_dir"
    return 1
  fi
  "$python_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location "$PYTHON_SDK"
  "$python_dir/bin/python" -c 'import dapr.clients, dapr.ext.grpc'
  printf '%s' "$PYTHON_SDK" > "$stamp"
}

# Node.js 18 or newer with npm; prints why not otherwise.
node_ok() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "Node.js (node and npm) is not installed; the JS SDK tests need Node.js 18 or newer ($NODE_HINT)" >&2
    return 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 18 ]; then
    echo "node $(node --version) is too old; @dapr/dapr needs Node.js 18 or newer ($NODE_HINT)" >&2
    return 1
  fi
}

install_js() {
  local stamp="$js_dir/.bindery-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$JS_SDK" ] && [ -d "$js_dir/node_modules/@dapr/dapr" ]; then
    echo "JS SDK already installed: $JS_SDK ($js_dir)"
    return 0
  fi
  node_ok || return 1
  echo "Installing the JS SDK $JS_SDK from npm into $js_dir"
  rm -rf "$js_dir"
  mkdir -p "$js_dir"
  printf '{\n  "name": "bindery-sdk-tests",\n  "private": true\n}\n' > "$js_dir/package.json"
  (cd "$js_dir" && npm install --silent --no-audit --no-fund --no-update-notifier --save-exact "$JS_SDK")
  (cd "$js_dir" && node -e 'require("@dapr/dapr")')
  printf '%s' "$JS_SDK" > "$stamp"
}

# Test binaries run in parallel and may all call this at once: one installer at a time.
mkdir -p "$cache/sdk"
# (macOS has no flock(1) unless util-linux is installed: there it runs unlocked.)
exec 9>"$cache/sdk/.lock"
if command -v flock >/dev/null; then flock 9; fi

case "${1:-all}" in
  python) install_python ;;
  js) install_js ;;
  all)
    install_python
    if [ -n "${CI+set}" ] || [ -d "$js_dir/node_modules/@dapr/dapr" ] || node_ok; then
      install_js
    else
      echo "SKIP: the JS SDK is not installed, so its tests (crates/bindery/tests/sdk_js.rs) will print SKIP" >&2
    fi
    ;;
  *) echo "usage: $0 [python|js|all]" >&2; exit 2 ;;
esac
