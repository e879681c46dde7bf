#!/usr/bin/env bash
# Creates (once) the Python virtual environment used by the WARP interop tests, with the real
# SwimOS Python client, and prints the path of its interpreter on stdout.
#
#   bash scripts/python-env.sh            # -> /path/to/repo/.venv/bin/python
#
# Idempotent: when `.venv` already imports the pinned `swimos`, it does nothing slow (one
# interpreter start-up). Everything else this script prints goes to stderr, so callers can
# capture stdout as the interpreter path.
#
# Environment:
#   PYTHON   the interpreter that creates the venv (default: python3; 3.11 is what we test on).
set -euo pipefail

# The SwimOS Python client. 1.6.0a0 is a pre-release, so pip needs `--pre` (see
# shared/reference/warp.md, section 6.1); it pulls `websockets` as its only dependency.
SWIMOS_VERSION="1.6.0a0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
venv_python="$venv/bin/python"
python="${PYTHON:-python3}"

# The "venv is complete" marker: the venv's interpreter runs and imports the pinned swimos
# (importlib.metadata, because swimos has no `__version__`). A venv left half-built by an
# interrupted run fails this check and is repaired below.
venv_ready() {
    [ -x "$venv_python" ] && "$venv_python" - "$SWIMOS_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
import swimos  # noqa: F401
sys.exit(0 if version("swimos") == sys.argv[1] else 1)
PY
}

if venv_ready; then
    echo "$venv_python"
    exit 0
fi

# Two runs at once (say, two `cargo test`s) must not build the same venv together: take a lock
# on this script's own file (no lock file to clean up), then look again, as the other run may
# have finished the job meanwhile. `flock` is util-linux; without it, go on unlocked.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
    if venv_ready; then
        echo "$venv_python"
        exit 0
    fi
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "python-env.sh: '$python' not found; install Python 3 (3.11 is tested) with the venv module" >&2
    exit 1
fi

# A venv whose interpreter does not run (moved repository, Python upgraded under it) is rebuilt
# from scratch; otherwise `python -m venv` on an existing venv just fills in what is missing.
if [ -e "$venv" ] && ! "$venv_python" -c 'pass' >/dev/null 2>&1; then
    echo "python-env.sh: $venv is broken, recreating it" >&2
    rm -rf "$venv"
fi

echo "python-env.sh: setting up $venv with swimos==$SWIMOS_VERSION" >&2
if ! "$python" -m venv "$venv" >&2; then
    echo "python-env.sh: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
fi

# --pre: the pinned version is a pre-release. --disable-pip-version-check: no extra index
# request nor warning. Quiet, but pip still prints errors (to stderr).
if ! "$venv_python" -m pip install --quiet --disable-pip-version-check \
    --pre "swimos==$SWIMOS_VERSION" >&2; then
    echo "python-env.sh: could not install swimos==$SWIMOS_VERSION from PyPI (is PyPI reachable?)" >&2
    exit 1
fi

if ! venv_ready; then
    echo "python-env.sh: swimos==$SWIMOS_VERSION installed, but importing it fails:" >&2
    "$venv_python" -c 'import swimos' >&2 || true
    exit 1
fi

echo "$venv_python"
