#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest: first the main
# build (warnings are errors), then the ASan + UBSan build of everything that does not switch
# fibers (the benchmarks' smoke runs and the minute-long soak, chaos and fleet runs under load
# run once, in the main build), then the libFuzzer targets for a few seconds each and their
# regression files (clang). Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

cmake --preset ci
cmake --build --preset ci -j "$jobs"
ctest --preset ci

cmake --preset asan
cmake --build --preset asan -j "$jobs"
ctest --preset asan

cmake --preset fuzz
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz
