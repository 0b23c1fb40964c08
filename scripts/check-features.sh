#!/usr/bin/env bash
# Builds and lints every binding feature of bindery-bindings on its own, then the workspace:
#   for each feature x in crates/bindings/Cargo.toml [features] (not `default`, not umbrella
#   features that only list other features):
#     cargo clippy -p bindery-bindings --no-default-features --features x --all-targets -- -D warnings
#     cargo test   -p bindery-bindings --no-default-features --features x --no-run
#   then cargo fmt --check (the workspace, and fuzz/'s targets) and
#   cargo clippy --workspace --all-targets -- -D warnings.
# One line per step; the log of a failing step is printed after its line. Exits non-zero when
# any step failed.
#
#   scripts/check-features.sh               every feature, clippy and test build
#   scripts/check-features.sh kafka redis   only these features (then the workspace steps)
#   CHECK_FEATURES_MODE=clippy scripts/check-features.sh
#                                           per feature clippy only (no test build): cheaper
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${CHECK_FEATURES_MODE:-full}
case "$mode" in
  full | clippy) ;;
  *)
    echo "CHECK_FEATURES_MODE must be full or clippy, not $mode" >&2
    exit 2
    ;;
esac

# The binding features: those that gate a registry line (`all.push(..)` or a lock store) in
# crates/bindings/src/lib.rs, so a new binding is checked as soon as it is registered.
binding_features() {
  python3 - crates/bindings/src/lib.rs <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
seen = []
for m in re.finditer(r'#\[cfg\(feature = "([^"]+)"\)\]\s*\n\s*[^\n]*push\(', text):
    if m.group(1) not in seen:
        seen.append(m.group(1))
print("\n".join(seen))
EOF
}

if [ "$#" -gt 0 ]; then
  features="$*"
else
  features=$(binding_features) || {
    echo "cannot read the features of crates/bindings/Cargo.toml" >&2
    exit 2
  }
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
started=$(date +%s)

# step LABEL COMMAND...: runs COMMAND quietly, prints "ok/FAIL LABEL (Ns)", and the log on failure.
step() {
  local label=$1 t0 status
  shift
  t0=$(date +%s)
  "$@" >"$log" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then
    printf 'ok    %-28s %4ss\n' "$label" "$(($(date +%s) - t0))"
  else
    printf 'FAIL  %-28s %4ss  (%s)\n' "$label" "$(($(date +%s) - t0))" "$*"
    sed 's/^/      /' "$log" | tail -n 60
    failed=1
  fi
  return "$status"
}

feature_checks() {
  local f=$1
  cargo clippy -p bindery-bindings --no-default-features --features "$f" --all-targets \
    -- -D warnings || return
  if [ "$mode" = full ]; then
    cargo test -p bindery-bindings --no-default-features --features "$f" --no-run
  fi
}

for f in $features; do
  step "feature $f" feature_checks "$f"
done
step "cargo fmt --check" cargo fmt --all --check
# fuzz/ is its own workspace (not a member): its targets are formatted here, and compiled (with
# their warnings) by scripts/fuzz.sh's instrumented build.
step "cargo fmt --check (fuzz/)" cargo fmt --manifest-path fuzz/Cargo.toml --check
step "clippy --workspace" cargo clippy --workspace --all-targets -- -D warnings

echo "total $(($(date +%s) - started))s (mode $mode)"
exit "$failed"
