#!/usr/bin/env bash
# Builds (once) the SwimOS server of the remote-downlink interop tests (interop/swimos-server,
# swim-rust 0.1.1 from crates.io) and prints the path of its binary on stdout.
#
#   bash scripts/swimos-server.sh            # -> /path/to/repo/target/swimos-server/debug/swimos-server
#   bash scripts/swimos-server.sh --release  # an optimised build, for the load generator
#
# The first build takes a few minutes on 2 cores and needs crates.io; later calls only check
# that the binary is up to date. Cargo's own output goes to stderr.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="$repo_root/target/swimos-server"
profile=debug
flags=()
if [ "${1:-}" = "--release" ]; then
    profile=release
    flags=(--release)
fi

cargo build --locked --quiet "${flags[@]}" \
    --manifest-path "$repo_root/interop/swimos-server/Cargo.toml" \
    --target-dir "$target_dir" >&2
echo "$target_dir/$profile/swimos-server"
