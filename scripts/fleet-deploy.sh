#!/usr/bin/env bash
# A rolling deploy of one release across a fleet of zygote-real hosts, host by host, the first one
# a canary. Each host deploys as it does on its own (the symlink flip, then `ctl deploy --wait`:
# zero-drop, no need to take it out of the load balancer); the next host begins only once the load
# balancer sees this one ready again. A canary that fails (its release does not load or
# crash-loops, or its error rate over the watch rises past the limit) is put back on the release
# it served and the rollout stops there: every other host stays on the old release.
#
# Usage: scripts/fleet-deploy.sh [OPTIONS] FLEET_FILE RELEASE
#   FLEET_FILE: one host a line, `#` comments:  NAME BASE RUN_DIR RUN_ON...
#     NAME     the host's name (in the load balancer's backend, with --haproxy-stats)
#     BASE     the directory holding releases/RELEASE and the `current` symlink the server serves
#     RUN_DIR  the server's --run-dir (its control socket)
#     RUN_ON   the rest of the line: the command that runs a shell command on the host, given as
#              one argument (`ssh deploy@web1`, or `sh -c` for this machine)
#   RELEASE: a directory name under BASE/releases on every host
# Options:
#   --haproxy-stats URL    HAProxy's stats page (`stats uri`); wait until it says the host UP
#   --backend NAME         the HAProxy backend of the hosts (with --haproxy-stats)
#   --lb-timeout-s N       how long to wait for the load balancer to see a host ready (30)
#   --canary-watch-s N     how long to watch the canary's error rate once it is proven (10)
#   --max-error-rate R     the largest share of 5xx answers the canary may give in its watch (0.01)
#   --min-requests N       the canary must serve this many requests in its watch (1)
#   --zygote-real CMD      the zygote-real command on the hosts (zygote-real)
#   --wait-timeout-s N     limit of each host's `ctl deploy --wait` (300)
# Exit status: 0 every host on RELEASE; 1 the rollout stopped (what was left where is printed);
# 2 usage, or a host that cannot be deployed at all (checked on every host before any change).
set -euo pipefail

haproxy_stats="" backend="" lb_timeout=30 watch_s=10 max_rate=0.01 min_requests=1
zr=zygote-real wait_timeout=300
usage() {
  sed -n '9,27s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --haproxy-stats) haproxy_stats=${2:?}; shift 2 ;;
    --backend) backend=${2:?}; shift 2 ;;
    --lb-timeout-s) lb_timeout=${2:?}; shift 2 ;;
    --canary-watch-s) watch_s=${2:?}; shift 2 ;;
    --max-error-rate) max_rate=${2:?}; shift 2 ;;
    --min-requests) min_requests=${2:?}; shift 2 ;;
    --zygote-real) zr=${2:?}; shift 2 ;;
    --wait-timeout-s) wait_timeout=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "fleet-deploy: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
fleet=$1 release=$2
for n in "$lb_timeout" "$watch_s" "$min_requests" "$wait_timeout"; do
  case "$n" in '' | *[!0-9]*) echo "fleet-deploy: not a whole number: $n" >&2; exit 2 ;; esac
done
awk -v r="$max_rate" 'BEGIN { exit !(r ~ /^[0-9]*\.?[0-9]+$/ && r + 0 <= 1) }' ||
  { echo "fleet-deploy: --max-error-rate is a share from 0 to 1: $max_rate" >&2; exit 2; }
case "$release" in '' | */* | . | ..) echo "fleet-deploy: RELEASE is a directory name" >&2; exit 2 ;; esac
if [ -n "$haproxy_stats" ] && [ -z "$backend" ]; then
  echo "fleet-deploy: --haproxy-stats needs --backend" >&2
  exit 2
fi
for tool in jq awk; do
  command -v "$tool" >/dev/null || { echo "fleet-deploy: $tool is needed" >&2; exit 2; }
done
[ -z "$haproxy_stats" ] || command -v curl >/dev/null ||
  { echo "fleet-deploy: curl is needed for --haproxy-stats" >&2; exit 2; }

names=() bases=() runs=() ons=()
while read -r name base run on; do
  case "$name" in '' | '#'*) continue ;; esac
  if [ -z "$on" ]; then
    echo "fleet-deploy: $fleet: host $name: NAME BASE RUN_DIR RUN_ON..." >&2
    exit 2
  fi
  names+=("$name") bases+=("$base") runs+=("$run") ons+=("$on")
done <"$fleet"
[ ${#names[@]} -gt 0 ] || { echo "fleet-deploy: $fleet names no host" >&2; exit 2; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# on I SCRIPT: runs SCRIPT on host I (its RUN_ON word-split on purpose: `ssh deploy@web1`).
on() {
  local -a cmd
  read -r -a cmd <<<"${ons[$1]}"
  "${cmd[@]}" "$2"
}
ctl() { # ctl I ARGS...: zygote-real ctl on host I
  local i=$1 args
  shift
  args=$(printf ' %q' "$@")
  on "$i" "$zr ctl --run-dir $(printf %q "${runs[$i]}")$args"
}
status_json() { ctl "$1" status --json; }
serving_release() { # the release directory name host I serves
  status_json "$1" | jq -r '.serving // ""' | sed 's#.*/##'
}
point() { # point I RELEASE: the atomic symlink flip on host I
  local b
  b=$(printf %q "${bases[$1]}")
  on "$1" "ln -sfn releases/$(printf %q "$2") $b/current.fleet-new && mv -T $b/current.fleet-new $b/current"
}
lb_up() { # the load balancer says host I is UP
  [ -n "$haproxy_stats" ] || return 0
  curl -fsS --max-time 5 "$haproxy_stats;csv" 2>/dev/null |
    awk -F, -v b="$backend" -v s="${names[$1]}" '$1 == b && $2 == s && $18 ~ /^UP/ { up = 1 }
      END { exit !up }'
}
host_ready() { status_json "$1" 2>/dev/null | jq -e '.ready == true' >/dev/null; }
wait_ready() { # wait_ready I: the host says ready, and so does the load balancer
  local t0 deadline
  t0=$(now)
  deadline=$(($(date +%s) + lb_timeout))
  until host_ready "$1" && lb_up "$1"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "${names[$1]}: not ready in the load balancer after ${lb_timeout} s"
      return 1
    fi
    sleep 0.2
  done
  if [ -n "$haproxy_stats" ]; then
    echo "${names[$1]}: HAProxy has it UP after $(since "$t0") s"
  else
    echo "${names[$1]}: ready after $(since "$t0") s"
  fi
}
counts() { # "requests 5xx" host I has answered since it started
  status_json "$1" | jq -r '"\(.requests.count) \(.requests.by_class["5xx"])"'
}

# Before any change: every host answers, serves something, and has the release.
declare -a before
for i in "${!names[@]}"; do
  if ! s=$(serving_release "$i") || [ -z "$s" ]; then
    echo "fleet-deploy: ${names[$i]}: no serving zygote-real on ${runs[$i]}" >&2
    exit 2
  fi
  before[i]=$s
  if ! on "$i" "test -d $(printf %q "${bases[$i]}/releases/$release")"; then
    echo "fleet-deploy: ${names[$i]}: ${bases[$i]}/releases/$release does not exist" >&2
    exit 2
  fi
done
echo "fleet-deploy: $release to ${#names[@]} hosts, canary ${names[0]}"

halt() { # halt I WHY: the rollout stops at host I; say where every host is
  local j
  echo "${names[$1]}: FAILED: $2"
  for j in "${!names[@]}"; do
    echo "  ${names[$j]}: serving $(serving_release "$j" || echo '?')"
  done
  echo "fleet-deploy: HALTED at ${names[$1]}; hosts after it were not touched"
  exit 1
}
put_back() { # put_back I: host I serves what it served before the rollout
  point "$1" "${before[$1]}"
  if [ "$(serving_release "$1")" != "${before[$1]}" ]; then
    ctl "$1" deploy --wait --wait-timeout-s "$wait_timeout" >/dev/null 2>&1 || true
  fi
}

for i in "${!names[@]}"; do
  n=${names[$i]}
  if [ "${before[$i]}" = "$release" ]; then
    echo "$n: already serving $release"
    continue
  fi
  echo "$n: serving ${before[$i]}; deploying $release"
  t0=$(now)
  point "$i" "$release"
  if ! out=$(ctl "$i" deploy --wait --wait-timeout-s "$wait_timeout" 2>&1); then
    put_back "$i"
    halt "$i" "$(echo "$out" | tail -1); symlink back on ${before[$i]}"
  fi
  echo "$n: proven in $(since "$t0") s"
  wait_ready "$i" || { put_back "$i"; halt "$i" "not ready again after its deploy"; }
  if [ "$i" -eq 0 ] && [ "$watch_s" -gt 0 ]; then
    read -r r0 e0 < <(counts 0)
    sleep "$watch_s"
    read -r r1 e1 < <(counts 0)
    verdict=$(awk -v r=$((r1 - r0)) -v e=$((e1 - e0)) -v max="$max_rate" -v min="$min_requests" \
      'BEGIN { rate = r > 0 ? e / r : 0
               printf "%d requests, %d 5xx (%.2f%%), limit %.2f%%", r, e, rate * 100, max * 100
               if (r < min) printf "; fewer than %d requests", min
               exit !(r >= min && rate <= max) }') && ok=1 || ok=0
    echo "$n: canary watch ${watch_s} s: $verdict"
    if [ "$ok" -ne 1 ]; then
      put_back 0
      halt 0 "the canary's watch: $verdict; put back on ${before[0]}"
    fi
  fi
done
echo "fleet-deploy: done: ${#names[@]} hosts on $release"
