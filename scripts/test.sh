#!/usr/bin/env bash
# The project's test command (README, command 2). In order:
#   1. runs every scripts/install-*.sh (sorted by name): system packages for the native build
#      (apt-get on Debian/Ubuntu, a check with instructions elsewhere), Tansu (a Kafka-protocol
#      broker, compiled once into .cache/: 7 to 12 minutes the first time), the Dapr SDKs (PyPI
#      and npm), and whatever emulators other tests added. All are idempotent and cached.
#   2. builds README command 1 (scripts/example.sh --build: bindery with the example's two
#      bindings only), so a change that breaks that build fails here.
#   3. starts a Tansu broker on 127.0.0.1:9092 unless something already answers there, and stops
#      the one it started when it exits, whether the tests pass, fail or are interrupted (Ctrl-C).
#   4. scripts/check-features.sh (clippy mode), then scripts/fuzz.sh (each coverage-guided fuzz
#      target FUZZ_SECONDS, default 30, on its stored corpus; FUZZ_SECONDS=0 skips it).
#   5. cargo test --workspace --all-targets, with any arguments given to this script; at the end
#      the fault scenarios' counts (BINDERY_FAULTS_REPORT, a temporary file unless set).
# The servers (PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto, NATS) are expected on loopback:
# scripts/services.sh starts them on a machine set up like CI's, compose.yaml elsewhere.
#   BINDERY_CACHE   where installers put their tools (default: <repo>/.cache)
#   KAFKA_PORT      the broker's port (default 9092, the one the Kafka tests use)
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_PORT
started_kafka=""

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every fault scenario's counts (sent, delivered, duplicated, lost, and the bounds measured) go
# to one file, printed at the end, so a run shows them without --nocapture.
own_faults_report=""
if [[ -z "${BINDERY_FAULTS_REPORT:-}" ]]; then
    own_faults_report="$(mktemp "${TMPDIR:-/tmp}/bindery-faults.XXXXXX")"
    export BINDERY_FAULTS_REPORT="$own_faults_report"
fi

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$own_faults_report" ]]; then
        if [[ -s "$own_faults_report" ]]; then
            echo "== fault scenarios: what each sent, delivered, duplicated and lost, and the bounds measured"
            cat "$own_faults_report"
        fi
        rm -f "$own_faults_report"
    fi
    if [[ -n "$started_kafka" ]]; then
        echo "== scripts/start-kafka.sh stop (the broker this run started)"
        scripts/start-kafka.sh stop || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tansu_bin="${BINDERY_CACHE:-$PWD/.cache}/tansu/bin/tansu"
if [[ -x "$tansu_bin" ]]; then
    tansu_note="Tansu is already built ($tansu_bin)"
else
    tansu_note="Tansu is compiled first (7 to 12 minutes on 2 cores, once)"
fi
cat <<EOF
== scripts/test.sh: installers, then a Kafka-protocol broker on 127.0.0.1:$KAFKA_PORT (stopped at
   the end), then cargo test --workspace. A first run downloads from crates.io, PyPI and npm and
   compiles the workspace; $tansu_note.
   The fault tests stop and restart throwaway servers of their own on free ports, never this
   machine's shared ones.
EOF

mapfile -t installers < <(printf '%s\n' scripts/install-*.sh | LC_ALL=C sort)
for installer in "${installers[@]}"; do
    echo "== $installer"
    bash "$installer"
done

echo "== scripts/example.sh --build (README command 1 builds with the example's bindings only)"
scripts/example.sh --build

if port_open "$KAFKA_PORT"; then
    echo "== a Kafka-protocol broker already answers on 127.0.0.1:$KAFKA_PORT: using it, leaving it running"
else
    echo "== scripts/start-kafka.sh"
    started_kafka=1
    scripts/start-kafka.sh
fi

echo "== scripts/check-features.sh (each binding feature built and linted alone; fmt; workspace clippy)"
CHECK_FEATURES_MODE="${CHECK_FEATURES_MODE:-clippy}" scripts/check-features.sh

# --- Coverage-guided fuzzing (fuzz/, cargo fuzz + libFuzzer): scripts/fuzz.sh ----------------
# Each target for FUZZ_SECONDS (default 30; 0 skips the step) on its stored corpus,
# fuzz/corpus/<target>, which is only read (new inputs go to a scratch folder). A crash, panic,
# timeout or out-of-memory fails the run, its input left in fuzz/artifacts/<target>/.
# cargo-fuzz is installed once into $BINDERY_CACHE/cargo-fuzz (4 minutes, 1.7 of CPU), and the
# instrumented build of all targets has its own target folder, $CARGO_TARGET_DIR/fuzz: 14 minutes
# of CPU the first time (35 minutes on 2 cores shared at a load of 12 to 15), then only the
# bindery crates that changed (bindery-core: 3.5 CPU minutes, 12 at that load; none: 5 s).
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
if [[ "$FUZZ_SECONDS" != 0 ]]; then
    echo "== scripts/fuzz.sh (each fuzz target ${FUZZ_SECONDS} s on fuzz/corpus/<target>)"
    FUZZ_SECONDS="$FUZZ_SECONDS" scripts/fuzz.sh
fi

echo "== cargo test --workspace --all-targets $*"
cargo test --workspace --all-targets "$@"
