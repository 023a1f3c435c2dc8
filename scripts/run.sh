#!/usr/bin/env bash
# Installs what is missing, builds, and shows the system working: the seeds' example (half the
# workers busy with long requests while a new version is deployed) run through the real master,
# zygote and worker code in the deterministic simulator, with its timeline, its verdict and a
# drawing of the run in build/seeds-example.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)" --target zygote-sim
./build/sim/zygote-sim --scenario sim/scenarios/seeds-example.scenario --svg build/seeds-example.svg "$@"
