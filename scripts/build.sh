#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR] [extra cmake args...] — configure and build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
shift || true
jobs=$(nproc)
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$jobs"
