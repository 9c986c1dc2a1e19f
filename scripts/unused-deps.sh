#!/usr/bin/env bash
# Fails when a workspace crate declares a dependency its code never names: for every
# member's Cargo.toml, each crate listed under [dependencies], [dev-dependencies] or
# [build-dependencies] must appear (as `name::`, `use name`, `extern crate name` or
# `name!`) in that member's Rust files or build script. The same textual test as
# cargo-machete, without installing it; `-D warnings` in CI catches unused imports.
# A dependency only generated code uses (prost under tonic's generated modules) is
# listed, with the reason, under `[package.metadata.unused-deps] ignored = [...]`.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for manifest in Cargo.toml */Cargo.toml; do
    member=$(dirname "$manifest")
    # The root manifest's own sources; a member's are below its folder.
    if [[ "$member" == "." ]]; then
        sources=(src tests benches build.rs)
    else
        sources=("$member/src" "$member/tests" "$member/benches" "$member/build.rs")
    fi
    deps=$(awk '
        /^\[/ { section = $0; next }
        section ~ /^\[(dev-|build-)?dependencies\]$/ && /^[A-Za-z0-9_-]+[ .=]/ {
            name = $1; sub(/[ .=].*/, "", name); print name
        }' "$manifest")
    ignored=$(awk '
        /^\[/ { section = $0; next }
        section == "[package.metadata.unused-deps]" && /^ignored *=/ { print }' "$manifest" |
        grep -oE '"[^"]+"' | tr -d '"' || true)
    for dep in $deps; do
        ident=${dep//-/_}
        if grep -qxF "$dep" <<<"$ignored"; then
            continue
        fi
        existing=()
        for s in "${sources[@]}"; do [[ -e "$s" ]] && existing+=("$s"); done
        if ! grep -rqE --include='*.rs' "(^|[^A-Za-z0-9_])${ident}(::|!|;| as )" "${existing[@]}"; then
            echo "$manifest: dependency \`$dep\` is not used by any of ${existing[*]}" >&2
            status=1
        fi
    done
done
if [[ $status -eq 0 ]]; then
    echo "unused dependencies: none"
fi
exit $status
