#!/usr/bin/env bash
# Runs one seed in two separate processes with different heap perturbation (and, as every run
# does, a different address layout) and fails unless both print the same trace hash.
set -euo pipefail
sim=${1:?usage: check-determinism.sh ZYGOTE_SIM SEED}
seed=${2:?usage: check-determinism.sh ZYGOTE_SIM SEED}
a=$(MALLOC_PERTURB_=0 "$sim" --seed "$seed" --quiet | grep '^trace-hash')
b=$(MALLOC_PERTURB_=165 "$sim" --seed "$seed" --quiet | grep '^trace-hash')
echo "first:  $a"
echo "second: $b"
[ -n "$a" ] && [ "$a" = "$b" ]
