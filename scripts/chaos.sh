#!/usr/bin/env bash
# Chaos on real processes for longer than ctest runs it (real.chaos, 60 s): zygote-real under
# zygote-load while its workers, zygotes and front are SIGKILLed and SIGSTOPped at random and
# deploys alternate; every failed request must be explained by a kill, the server back to its
# workers within 1 s of the last fault, nothing left after the stop, zygote-check clean
# (real/tests/chaos/test_chaos.py). MINUTES of faults (default 10, at most 50: the load client
# runs an hour at most); SEED replays a run's faults. Needs a build (build/, or ZYGOTE_BUILD).
#
#   scripts/chaos.sh [MINUTES] [SEED]
set -euo pipefail
minutes=${1:-10}
seed=${2:-}
case "$minutes" in '' | *[!0-9]*) echo "usage: scripts/chaos.sh [MINUTES 1-50] [SEED]" >&2; exit 2 ;; esac
if [ "$minutes" -lt 1 ] || [ "$minutes" -gt 50 ]; then
  echo "chaos.sh: MINUTES is 1 to 50" >&2
  exit 2
fi
case "$seed" in *[!0-9]*) echo "chaos.sh: SEED is a number" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZYGOTE_BUILD:-$root/build}
for f in real/zygote-real examples/testapp/testapp.so real/load/zygote-load real/zygote-check; do
  [ -f "$build/$f" ] || { echo "chaos.sh: $build/$f missing: build first" >&2; exit 2; }
done
echo "chaos: $minutes min on $(nproc) cores, $(date -u +%F)"
cd "$root/real/tests/chaos"
export ZYGOTE_CHAOS_SECONDS=$((minutes * 60))
if [ -n "$seed" ]; then export ZYGOTE_CHAOS_SEED=$seed; fi
ZYGOTE_REAL=$build/real/zygote-real ZYGOTE_TESTAPP=$build/examples/testapp/testapp.so \
  ZYGOTE_LOAD=$build/real/load/zygote-load ZYGOTE_CHECK=$build/real/zygote-check \
  PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -v test_chaos
