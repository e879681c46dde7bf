#!/usr/bin/env bash
# Installs (once) Debian's Chromium for the web console's browser test, and prints the path of
# its binary on stdout.
#
#   bash scripts/chromium.sh            # -> /usr/bin/chromium
#
# Idempotent: when /usr/bin/chromium runs, it does nothing else. Installing needs root (the
# CI machine runs as root) and Debian's package registry. Everything else it prints goes to
# stderr, so callers can capture stdout as the binary's path.
set -euo pipefail

chromium=/usr/bin/chromium

if ! "$chromium" --version >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium is missing and installing it needs root: apt-get install chromium" >&2
        exit 1
    fi
    echo "installing Debian's chromium (once)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
"$chromium" --version >&2
echo "$chromium"
