#!/usr/bin/env bash
# The operations soak for longer than ctest runs it: every operations feature at once (socket
# activation, notify and watchdog, the config file and a release's own, the status port, the
# access log rotated, ctl) under zygote-load while deploys alternate, a native release then a
# Python one. MINUTES per release, at most 10 (the load client's limit). Needs a build (build/).
set -euo pipefail
minutes=${1:-10}
case "$minutes" in '' | *[!0-9]*) echo "usage: scripts/soak.sh [MINUTES 1-10]" >&2; exit 2 ;; esac
if [ "$minutes" -lt 1 ] || [ "$minutes" -gt 10 ]; then
  echo "soak.sh: MINUTES is 1 to 10" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZYGOTE_BUILD:-$root/build}
for f in real/zygote-real examples/testapp/testapp.so real/load/zygote-load real/zygote-check; do
  [ -x "$build/$f" ] || [ -f "$build/$f" ] || { echo "soak.sh: $build/$f missing: build first" >&2; exit 2; }
done
echo "soak: $minutes min per release on $(nproc) cores, $(date -u +%F)"
cd "$root/real/tests/soak"
ZYGOTE_SOAK_SECONDS=$((minutes * 60)) ZYGOTE_REAL=$build/real/zygote-real \
  ZYGOTE_TESTAPP=$build/examples/testapp/testapp.so ZYGOTE_LOAD=$build/real/load/zygote-load \
  ZYGOTE_CHECK=$build/real/zygote-check ZYGOTE_ARTEFACTS=$build/artefacts PYTHONDONTWRITEBYTECODE=1 \
  python3 -m unittest -v test_ops_soak
