#!/usr/bin/env bash
# What a Lua script's arguments cost inside Redis, in instructions counted
# by valgrind (load-independent): a script that only returns 1, called N
# times by redis-benchmark with no arguments, 45 arguments of 10 bytes and
# 45 of 400 bytes, each against a fresh redis-server (REDIS_SERVER) under
# valgrind. Start-up is measured alone and subtracted. Prints instructions
# per call. See docs/BENCHMARKS.md, seventh sitting.
#
#   bench/lua-cost.sh
set -euo pipefail
N=${N:-2000}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
count() { # calls, then the EVALSHA arguments after `0` -> instructions
  local calls=$1; shift
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$REDIS_SERVER" --port "$port" --save '' --appendonly no >/dev/null 2>"$work/vg.log" &
  local pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.2; done
  local sha; sha=$(redis-cli -p "$port" script load 'return 1')
  if [ "$calls" -gt 0 ]; then
    redis-benchmark -p "$port" -n "$calls" -c 1 -P 50 -q EVALSHA "$sha" 0 "$@" >/dev/null
  fi
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || true
  grep 'I *refs' "$work/vg.log" | tr -d ', ' | sed 's/.*refs://'
}
args() { # count bytes -> that many distinct arguments of that many bytes
  for i in $(seq 1 "$1"); do printf "%0${2}d " "$i"; done
}
base=$(count 0)
for shape in "0 0" "45 10" "45 400"; do
  read -r n bytes <<<"$shape"
  # shellcheck disable=SC2046
  total=$(count "$N" $( [ "$n" -gt 0 ] && args "$n" "$bytes" ))
  echo "return 1 with $n arguments of $bytes bytes: $(( (total - base) / N )) instructions per call"
done
