#!/usr/bin/env bash
# Caucus beside the peer baseline (Socket.IO 4.8 + Redis streams adapter) in
# one sitting, with the same Node load generator runtime and the same Redis
# build: `../shared/peers/side-by-side.sh`, except that the relay gets
# generated secrets (it refuses published or low-entropy ones) and its
# rate limits raised, since the ombud's one connection forwards every party
# message. Usage, from the workspace root, after
# `(cd ../shared/peers/socketio && npm install)` and `cargo build --release -p relay`:
#   bench/side-by-side.sh [ROOMS] [RATES...]   # RATE = messages/s per party; 100 rooms x 5 = 1,000 relays/s
# RELAY_BIN= picks another relay build.
# Prints one line per server and rate: delivered relays/s, p50/p99 (ms), RSS, CPU seconds.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$REPO/../shared/peers}
ROOMS=${1:-100}; shift || true; RATES=${*:-5 25 50}
OUT=${OUT:-/tmp/sbs}; mkdir -p "$OUT"
RP=${REDIS_PORT:-6391}
SECS=${SECS:-10}
RELAY_BIN=${RELAY_BIN:-$REPO/target/release/relay}
rss() { ps -o rss= -p "$1" | tr -d ' '; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
redis_up() {
  redis-server --port "$RP" --save '' --appendonly no --daemonize no >/dev/null 2>&1 & RPID=$!
  until redis-cli -p "$RP" ping >/dev/null 2>&1; do sleep 0.1; done
}
down() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; kill "$RPID"; wait "$RPID" 2>/dev/null; }
for RATE in $RATES; do
  redis_up
  PORT=3100 REDIS_URL=redis://127.0.0.1:$RP node "$PEERS/socketio/server.js" >"$OUT/sio.log" 2>&1 & SPID=$!
  sleep 1.5; R1=$(rss $SPID)
  ROOMS=$ROOMS RATE=$RATE SECS=$SECS URL=http://127.0.0.1:3100 node "$PEERS/socketio/load.js" >"$OUT/sio-$RATE.json" 2>&1
  echo "socketio rate=$RATE rss_before=${R1}KB rss_after=$(rss $SPID)KB cpu_s=$(cpu $SPID) redis_cpu_s=$(cpu $RPID) $(tail -1 "$OUT/sio-$RATE.json")"
  down $SPID
  redis_up
  RELAY_ADDR=127.0.0.1:8190 REDIS_URL=redis://127.0.0.1:$RP \
    RELAY_JWT_SECRET=$(openssl rand -base64 48) RELAY_DATA_KEY=$(openssl rand -base64 32) \
    RELAY_BOOTSTRAP_OMBUD='ombud1:correct horse battery staple' \
    RELAY_RATE_PER_SEC=100000 RELAY_RATE_BURST=100000 RUST_LOG=warn "$RELAY_BIN" >"$OUT/caucus.log" 2>&1 & CPID=$!
  until curl -sf http://127.0.0.1:8190/readyz >/dev/null; do sleep 0.1; done
  R1=$(rss $CPID)
  ROOMS=$ROOMS RATE=$RATE SECS=$SECS BASE=http://127.0.0.1:8190 node "$PEERS/socketio/load-caucus.js" >"$OUT/caucus-$RATE.json" 2>&1
  echo "caucus   rate=$RATE rss_before=${R1}KB rss_after=$(rss $CPID)KB cpu_s=$(cpu $CPID) redis_cpu_s=$(cpu $RPID) $(tail -1 "$OUT/caucus-$RATE.json")"
  down $CPID
done
