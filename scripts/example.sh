#!/usr/bin/env bash
# The README's first command: runs examples/hello. A cron input binding calls a small Python app
# (standard library only) every 2 s, and the app writes one file per tick through a localstorage
# output binding into examples/hello/out/ of this clone, from whatever folder this is run.
#
# It builds bindery with only the two bindings the example uses (cron, localstorage), which needs
# nothing but Rust and the C compiler Rust already uses: the full build also compiles librdkafka
# for the kafka binding, which needs more (see scripts/install-deps.sh). Ctrl-C stops it.
#
#   scripts/example.sh           build, then run the example
#   scripts/example.sh --build   only build (scripts/test.sh does, so CI keeps command 1 building)
#
#   APP_PORT       the app's port (default 8080)
#   PYTHON         the Python 3 to run the app with (default python3)
#   BINDERY_BIN    run this bindery binary instead of building one
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The example's bindings, as Cargo features of the bindery package.
FEATURES="bindery-bindings/cron,bindery-bindings/localstorage"
PYTHON="${PYTHON:-python3}"
APP_PORT="${APP_PORT:-8080}"

fail() { echo "example.sh: $*" >&2; exit 1; }
need_toolchain() {
    command -v cargo >/dev/null || fail "cargo not found: install Rust from https://rustup.rs"
    command -v "${CC:-cc}" >/dev/null || fail "no C compiler (${CC:-cc}), which Rust links with:" \
        "Debian/Ubuntu: sudo apt-get install gcc; Fedora: sudo dnf install gcc;" \
        "macOS: xcode-select --install"
}
if [[ "${1:-}" == --build ]]; then
    need_toolchain
    cd "$ROOT"
    exec cargo build -p bindery --no-default-features --features "$FEATURES"
fi
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found: the example app needs Python 3"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 8))' ||
    fail "$PYTHON is older than Python 3.8"

# The component files use paths relative to the clone (rootPath: ./examples/hello/out).
cd "$ROOT"
args=(run --app-id hello --app-port "$APP_PORT" --resources-path examples/hello/components
    -- "$PYTHON" examples/hello/app.py)
if [[ -n "${BINDERY_BIN:-}" ]]; then
    echo "running the example with $BINDERY_BIN: files go to $ROOT/examples/hello/out/ (Ctrl-C stops it)" >&2
    exec "$BINDERY_BIN" "${args[@]}"
fi
need_toolchain
echo "building bindery with the example's bindings only (cron, localstorage): the first build" \
    "takes a few minutes, later ones seconds; then files go to $ROOT/examples/hello/out/" \
    "(Ctrl-C stops it)" >&2
exec cargo run -p bindery --no-default-features --features "$FEATURES" -- "${args[@]}"
