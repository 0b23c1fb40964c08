#!/usr/bin/env bash
# Coverage-guided fuzzing of fuzz/ (cargo fuzz + libFuzzer). In order:
#   1. scripts/cargo-fuzz-install.sh (cached in $BINDERY_CACHE/cargo-fuzz; a no-op once there);
#   2. one `cargo fuzz build` of every target, instrumented, into $CARGO_TARGET_DIR/fuzz (cached
#      like any target folder: a warm build only recompiles the bindery crates that changed);
#   3. each target given (default: every fuzz/fuzz_targets/*.rs) for FUZZ_SECONDS on its stored
#      corpus, fuzz/corpus/<target>, one after another.
# The stored corpus is only read: new inputs go to a scratch folder, deleted at the end unless
# FUZZ_KEEP names a folder to keep them in (one subfolder per target). A crash, panic, timeout
# (over 30 s for one input) or out-of-memory (over 2048 MB) stops that target and leaves its input
# in fuzz/artifacts/<target>/; the other targets still run, and the script exits 1. Each target's
# libFuzzer log is summed up in two lines (coverage, corpus, executions per second) and printed
# in full when it fails.
#
#   scripts/fuzz.sh                          every target, FUZZ_SECONDS each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh manifest
#                                            a long run of one target
#   FUZZ_SECONDS     seconds per target (default 30)
#   FUZZ_KEEP        keep the new inputs here instead of deleting them
#   FUZZ_FEATURES    cargo features of fuzz/ (default: its default set of bindings; `more-bindings`
#                    adds PostgreSQL, MySQL, RabbitMQ and NATS to `manifest`: a longer build)
#   CARGO_TARGET_DIR the instrumented build goes to <it>/fuzz (default: <repo>/target/fuzz)
#   BINDERY_CACHE    cache root for cargo-fuzz (default: <repo>/.cache)
#
# Build flags, and why:
#   --sanitizer none   AddressSanitizer finds memory errors in unsafe code; the crates fuzzed
#                      here (bindery-core, -api, -bindings, -runtime, -tls) are
#                      #![forbid(unsafe_code)], and what libFuzzer reports without it (panics,
#                      overflow checks, timeouts, out-of-memory) stays. ASan would add its
#                      instrumentation to every crate, and its documentation gives a typical
#                      2x slowdown of each execution.
#   --codegen-units 16 cargo's release default; cargo fuzz's own default (1) leaves one of the
#                      two cores idle on each big crate.
#   no -O              the release profile with debug assertions and overflow checks on.
# cargo fuzz passes nightly flags (-Z...): RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

seconds="${FUZZ_SECONDS:-30}"
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
# absolute, since the build runs in fuzz/
[[ "$target_dir" == /* ]] || target_dir="$ROOT/$target_dir"
if [[ "$#" -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for source in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$source" .rs)")
    done
fi
for target in "${targets[@]}"; do
    if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
        echo "no fuzz target $target (fuzz/fuzz_targets/$target.rs)" >&2
        exit 2
    fi
done

bash scripts/cargo-fuzz-install.sh
fuzz_bin="${BINDERY_CACHE:-$ROOT/.cache}/cargo-fuzz/bin"

echo "== cargo fuzz build (every target, instrumented, into $target_dir)"
t0=$(date +%s)
features=()
[[ -z "${FUZZ_FEATURES:-}" ]] || features=(--features "$FUZZ_FEATURES")
(cd fuzz && PATH="$fuzz_bin:$PATH" RUSTC_BOOTSTRAP=1 cargo fuzz build \
    --sanitizer none --codegen-units 16 --target-dir "$target_dir" "${features[@]}")
echo "   built in $(($(date +%s) - t0)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
new_inputs="${FUZZ_KEEP:-$scratch/new}"
failed=()
for target in "${targets[@]}"; do
    echo "== fuzz $target: ${seconds} s on fuzz/corpus/$target"
    mkdir -p "$new_inputs/$target" "fuzz/artifacts/$target"
    log="$scratch/$target.log"
    status=0
    # The first folder receives new inputs; the stored corpus after it is only read. libFuzzer's
    # timeout is wall-clock time: on a shared 2-core machine at a load of 15, an input that takes
    # 2.5 s of CPU took 15 s, hence 30 s.
    "$target_dir/x86_64-unknown-linux-gnu/release/$target" \
        -max_total_time="$seconds" -max_len=16384 -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" \
        "$new_inputs/$target" "fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    # "#N INITED cov: .. ft: .. corp: .." after the corpus is read; "#N DONE ..." at the end.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed 's/^/   /' || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
        "$log" | tr '\n' ' ' | sed 's/^/   /; s/$/\n/' || true
    if [[ "$status" -ne 0 ]]; then
        echo "FAIL fuzz $target (exit $status): libFuzzer's log follows;" \
            "the input is in fuzz/artifacts/$target/"
        tail -n 80 "$log" | sed 's/^/      /'
        failed+=("$target")
    fi
done
if [[ "${#failed[@]}" -gt 0 ]]; then
    echo "fuzzing found something in: ${failed[*]}" >&2
    exit 1
fi
