#!/usr/bin/env bash
# demo.sh - install what is missing, build syncmgr and run the demo.
# Usage: bash examples/demo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/deps.sh"
sm_install_deps
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target demo syncmgrd
"$root/build/demo" "$@"
