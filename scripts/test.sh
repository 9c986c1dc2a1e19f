#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then every unit,
# property, model-check and end-to-end test of the workspace, and closes with one
# line adding up the results of every test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-browser

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;/) passed += $i
            if ($(i + 1) ~ /^failed;/) failed += $i
        }
     }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
