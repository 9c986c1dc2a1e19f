#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then every unit,
# property, model-check and end-to-end test of the workspace, and closes with one
# line adding up the results of every test binary and the time the tests took.
#
# --under-load: the same suite with one busy loop per core running beside it (started
# after the build, stopped when the script exits however it exits; each loop also
# stops by itself once this script is gone). The tests wait for conditions, never for
# a fixed time, so they must pass on a saturated machine too; this is how to check.
set -euo pipefail
cd "$(dirname "$0")/.."

under_load=false
for arg in "$@"; do
    case "$arg" in
        --under-load) under_load=true ;;
        -h | --help)
            echo "usage: scripts/test.sh [--under-load]"
            echo "  --under-load  run the suite beside one CPU-bound busy loop per core"
            exit 0
            ;;
        *)
            echo "scripts/test.sh: unknown argument '$arg' (try --help)" >&2
            exit 3
            ;;
    esac
done

scripts/setup.sh --with-browser

log=$(mktemp)
hogs=()
stop_hogs() {
    if ((${#hogs[@]})); then
        kill "${hogs[@]}" 2>/dev/null || true
        wait "${hogs[@]}" 2>/dev/null || true
        hogs=()
    fi
}
trap 'stop_hogs; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

if $under_load; then
    # Build first, so the busy loops load the tests rather than the compiler.
    cargo test --workspace --release --no-fail-fast --no-run
    cores=$(nproc)
    for ((i = 0; i < cores; i++)); do
        # `kill -0 $$` fails once this script is gone, even after a SIGKILL.
        (while kill -0 $$ 2>/dev/null; do :; done) &
        hogs+=("$!")
    done
    echo "under load: ${#hogs[@]} busy loops (pids ${hogs[*]}) on $cores cores"
fi

started=$SECONDS
set +e
cargo test --workspace --release --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
stop_hogs
awk -v secs=$((SECONDS - started)) -v load="$under_load" '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;/) passed += $i
            if ($(i + 1) ~ /^failed;/) failed += $i
        }
     }
     END {
        printf "tests: %d passed, %d failed in %dm%02ds%s\n", passed, failed,
            secs / 60, secs % 60, (load == "true" ? " (under load)" : "")
     }' "$log"
exit "$status"
