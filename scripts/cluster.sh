#!/bin/sh
# Starts a local raftkv cluster on loopback (release build) for trying things out:
#   scripts/cluster.sh [--nodes 3] [--base-port 7001] [--dir DIR]
# then, in another terminal:
#   target/release/faultline kv put k v && target/release/faultline kv get k
# Ctrl-C stops the cluster and its node processes.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin faultline
exec target/release/faultline cluster "$@"
