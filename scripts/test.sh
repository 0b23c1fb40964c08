#!/usr/bin/env bash
# The project's test command (README): installs what the tests need (idempotent, cached), then
# runs every test of the workspace. Servers are expected on loopback (see README); .ci/run
# starts them first.
set -euo pipefail
cd "$(dirname "$0")/.."
for installer in scripts/install-*.sh; do
  if [ -x "$installer" ]; then
    echo "== $installer"
    "$installer"
  fi
done
echo "== scripts/start-kafka.sh"
scripts/start-kafka.sh
echo "== cargo test --workspace"
cargo test --workspace --all-targets "$@"
