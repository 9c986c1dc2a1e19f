#!/usr/bin/env bash
# Deterministic simulation of the Raft core (raftkv/src/sim): runs seeds in
# parallel until the budget ends, prints seeds run, steps per second and
# violations, and exits 1 with the seed and the shrunk trace on the first
# violation, 0 otherwise.
#
#   scripts/simulate.sh [--seeds N] [--minutes M] [--seed S] [--start S]
#                       [--threads T] [--bug NAME]...
#
# Without --seeds or --seed it runs for one minute on two threads. --seed S
# replays one seed exactly. --bug switches on one of the core's bugs
# (vote-without-log-check, commit-old-term, leader-local-read).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p raftkv --bin raftkv-sim
exec target/release/raftkv-sim "$@"
