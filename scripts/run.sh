#!/usr/bin/env bash
# Installs what is missing, builds, and starts zygote-real serving the bundled Python WSGI hello
# app (examples/python/hello.py) on 127.0.0.1:8000; with --native first, the native hello
# (examples/hello/hello.c) instead. Two releases of it (build/demo/releases/A and B) sit beside a
# symlink, build/demo/current, that names the one serving; see the README for deploying the other.
# Extra arguments go to zygote-real (for example --workers 8). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset default
app=hello:application
if [ "${1:-}" = "--native" ]; then
  app=hello
  shift
fi
cmake --build --preset default -j "$(nproc)" --target zygote-real zygote-python hello
demo=build/demo
for release in A B; do
  mkdir -p "$demo/releases/$release"
  rm -f "$demo/releases/$release/hello.so" "$demo/releases/$release/hello.py"
  if [ "$app" = hello ]; then
    cp build/examples/hello/hello.so "$demo/releases/$release/hello.so"
  else
    cp examples/python/hello.py "$demo/releases/$release/hello.py"
  fi
done
[ -L "$demo/current" ] || ln -s releases/A "$demo/current"
mkdir -p "$demo/run" && chmod 700 "$demo/run"
echo "zygote-real on http://127.0.0.1:8000/ serving $(readlink "$demo/current"); Ctrl-C stops it"
exec build/real/zygote-real -p 8000 -b "$demo/current" --run-dir "$demo/run" "$@" "$app"
