#!/usr/bin/env bash
# Installs every Debian package the build and tests need. Idempotent: packages already present are
# skipped, and apt-get runs only when something is missing. Nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
  build-essential cmake g++ pkg-config
  libboost1.74-dev libboost-context1.74-dev
  librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev libcxxopts-dev nlohmann-json3-dev
  # scripts/tidy.sh: formatting, clang-tidy, shellcheck, function lengths (ctags)
  clang-format clang-tidy shellcheck universal-ctags
  # benchmarks: nginx as the machine's ceiling, wrk as the HTTP load client, gnuplot for the plots
  nginx-light wrk gnuplot-nox
  # benchmarks: the peers (bench/peers.sh): gunicorn sync, uWSGI and waitress on Debian's Python,
  # and ss to count connections per server process
  gunicorn uwsgi-core uwsgi-plugin-python3 python3-waitress iproute2
  # Python WSGI apps: the embedded interpreter (Debian's /usr/bin/python3), virtualenvs per
  # release, and the real apps the tests serve
  python3-dev python3-venv python3-flask python3-django python3-httpbin
  # the status port's tests: promtool checks /metrics, headless Chromium loads the page
  prometheus chromium
  # systemd: sd_notify and socket activation; systemd-analyze and systemd-socket-activate in tests
  libsystemd-dev systemd
  # --config: TOML
  libtomlplusplus-dev
  # the fleet behind a real load balancer: HAProxy (nginx is above); scripts/fleet-deploy.sh
  # reads status JSON with jq and HAProxy's stats with curl
  haproxy jq curl
  # the Kubernetes manifest's check (docs/fleet/kubernetes.yaml) parses it with Debian's Python
  python3-yaml
  # fuzzing (fuzz/, scripts/fuzz.sh): clang with libFuzzer and the sanitizers' runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
