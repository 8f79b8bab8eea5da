#!/usr/bin/env bash
# Instructions the relay executes per delivered relay, counted by valgrind
# (cachegrind without cache simulation), so two builds can be compared on a
# busy machine: the count does not depend on what else runs, where the CPU
# time does. Each relay binary runs twice under valgrind, for SHORT and LONG
# seconds of load (10 rooms, 4 in flight, memory store); the difference of
# the two counts over the difference of relays delivered cancels start-up
# and sign-in. Prints one line per binary.
#
#   bench/instructions.sh target/release/relay ../base/target/release/relay
set -euo pipefail
SHORT=${SHORT:-4} LONG=${LONG:-14}
BENCH=${BENCH:-target/release/relay-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count() { # relay seconds -> "instructions delivered"
  local relay=$1 secs=$2
  cat > "$work/wrap" <<WRAP
#!/bin/bash
valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$relay" "\$@" 2>"$work/vg.log" &
echo \$! > "$work/vg.pid"
wait
WRAP
  chmod +x "$work/wrap"
  "$BENCH" --quiet --relay-bin "$work/wrap" --duration "$secs" --rooms 10 \
    --store memory --mode closed --inflight 4 > "$work/run.json"
  # The benchmark kills its child (the wrapper); valgrind's relay is stopped
  # gracefully here, so valgrind prints its count.
  local pid; pid=$(cat "$work/vg.pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  local ir; ir=$(grep 'I *refs' "$work/vg.log" | tr -d ', ' | sed 's/.*refs://')
  local delivered; delivered=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['load']['delivered'])" "$work/run.json")
  echo "$ir $delivered"
}
for relay in "$@"; do
  read -r i1 d1 < <(count "$relay" "$SHORT")
  read -r i2 d2 < <(count "$relay" "$LONG")
  echo "$relay: $(( (i2 - i1) / (d2 - d1) )) instructions per relay ($d1 and $d2 relays; $i1 and $i2 instructions)"
done
