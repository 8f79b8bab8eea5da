#!/usr/bin/env bash
# Instructions the relay executes per delivered relay, counted by valgrind
# (cachegrind without cache simulation), so two builds can be compared on a
# busy machine: the count does not depend on what else runs, where the CPU
# time does. Each relay binary runs twice under valgrind, for SHORT and LONG
# seconds of load (10 rooms, 4 in flight, memory store); the difference of
# the two counts over the difference of relays delivered cancels start-up
# and sign-in. Prints one line per binary.
#
# STORE=redis runs the same load on the Redis store, with a fresh
# redis-server (REDIS_SERVER, default redis-server) under valgrind as well
# for each run, and prints Redis's instructions per relay beside the
# relay's: the commit scripts' cost, without this host's noise.
#
# NODES=3 (with STORE=redis) starts that many relays, each under valgrind,
# and counts all of them together: what the cross-node path costs per relay.
# SPREAD=room keeps each room's connections on one node (relay-bench --spread).
#
#   bench/instructions.sh target/release/relay ../base/target/release/relay
#   STORE=redis bench/instructions.sh target/release/relay
#   STORE=redis NODES=3 bench/instructions.sh target/release/relay
set -euo pipefail
SHORT=${SHORT:-4} LONG=${LONG:-14}
BENCH=${BENCH:-target/release/relay-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
STORE=${STORE:-memory}
NODES=${NODES:-1}
SPREAD=${SPREAD:-connection}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
vg() { valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@"; }
refs() { grep 'I *refs' "$1" | tr -d ', ' | sed 's/.*refs://'; }
count() { # relay seconds -> "relay-instructions delivered redis-instructions"
  local relay=$1 secs=$2 store_args=(--store memory) rpid=
  if [ "$STORE" = redis ]; then
    local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    vg "$REDIS_SERVER" --port "$port" --save '' --appendonly no 2>"$work/vg-redis.log" >/dev/null &
    rpid=$!
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.2; done
    store_args=(--store redis --redis-url "redis://127.0.0.1:$port")
  fi
  rm -f "$work"/vg.*.log "$work"/vg.*.pid
  # One log and pid file per node the benchmark starts.
  cat > "$work/wrap" <<WRAP
#!/bin/bash
valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$relay" "\$@" 2>"$work/vg.\$\$.log" &
echo \$! > "$work/vg.\$\$.pid"
wait
WRAP
  chmod +x "$work/wrap"
  "$BENCH" --quiet --relay-bin "$work/wrap" --duration "$secs" --rooms 10 \
    "${store_args[@]}" --nodes "$NODES" --spread "$SPREAD" --mode closed --inflight 4 > "$work/run.json"
  # The benchmark kills its children (the wrappers); valgrind's relays are
  # stopped gracefully here, so valgrind prints their counts.
  local pid pids=()
  for f in "$work"/vg.*.pid; do pids+=("$(cat "$f")"); done
  kill -TERM "${pids[@]}"
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  done
  local relay_ir=0 log
  for log in "$work"/vg.*.log; do relay_ir=$((relay_ir + $(refs "$log"))); done
  local redis_ir=0
  if [ -n "$rpid" ]; then
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$rpid" || true
    redis_ir=$(refs "$work/vg-redis.log")
  fi
  local delivered; delivered=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['load']['delivered'])" "$work/run.json")
  echo "$relay_ir $delivered $redis_ir"
}
for relay in "$@"; do
  read -r i1 d1 r1 < <(count "$relay" "$SHORT")
  read -r i2 d2 r2 < <(count "$relay" "$LONG")
  line="$relay: $(( (i2 - i1) / (d2 - d1) )) instructions per relay"
  [ "$NODES" = 1 ] || line="$line ($NODES nodes together, spread by $SPREAD)"
  if [ "$STORE" = redis ]; then
    line="$line, redis-server $(( (r2 - r1) / (d2 - d1) ))"
  fi
  echo "$line ($STORE store; $d1 and $d2 relays; $i1 and $i2 instructions)"
done
