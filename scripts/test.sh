#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then every unit,
# property, model-check and end-to-end test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-browser
cargo test --workspace --release
