#!/usr/bin/env bash
# Runs zygote-sim under valgrind's memcheck for the given seeds (default 1..3), built with
# BOOST_USE_VALGRIND so valgrind can follow the fibers' stack switches. Slow: a separate command,
# not part of the default test run. Exits non-zero on the first memory error.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
command -v valgrind >/dev/null || { sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo);
  "${sudo_cmd[@]}" apt-get install -y -qq valgrind; }
first=${1:-1}
last=${2:-3}
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS=-DBOOST_USE_VALGRIND >/dev/null
cmake --build build-valgrind -j "$(nproc)" --target zygote-sim
for seed in $(seq "$first" "$last"); do
  valgrind -q --error-exitcode=9 --max-stackframe=4000000 build-valgrind/sim/zygote-sim --seed "$seed" --quiet \
    | grep -E '^(verdict|trace-hash)' | tr '\n' ' '
  echo "(seed $seed: no memory error)"
done
