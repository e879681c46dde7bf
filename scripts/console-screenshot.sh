#!/usr/bin/env bash
# Makes docs/console.png, the guide's picture of the web console: the browser test of the
# console (tests/console.rs) saves what headless Chromium shows once an agent has a value.
set -euo pipefail
cd "$(dirname "$0")/.."
TIDAL_CONSOLE_SCREENSHOT="$PWD/docs/console.png" cargo test --test console -- --nocapture
