#!/usr/bin/env bash
# The "Redis Cluster and replication wait" figures of docs/BENCHMARKS.md:
# one relay on a single Redis against one on a local Redis Cluster (three
# primaries with a replica each), and on a primary with one replica, WAIT 0
# against WAIT 1. Three alternating closed-loop runs each. Results go to
# $OUT/cluster.jsonl. Run from the workspace root after
# `cargo build --release -p relay -p relay-bench`.
set -euo pipefail

OUT=${OUT:-target/bench-results}
TARGET=${CARGO_TARGET_DIR:-target}
BENCH=$TARGET/release/relay-bench
RUN="--mode closed --inflight 8 --duration 10 --quiet"
DIR=$(mktemp -d)
mkdir -p "$OUT"
trap 'kill $(cat "$DIR"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$DIR"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# node NAME [redis-server args...]: starts one no-persistence server; prints its port.
node() {
    local name=$1 port; shift
    port=$(free_port)
    mkdir -p "$DIR/$name"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$DIR/$name" --logfile "$DIR/$name/log" "$@" >/dev/null 2>&1 &
    echo $! >"$DIR/$name.pid"
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
    echo "$port"
}

seeds=() addrs=()
for i in 1 2 3 4 5 6; do
    p=$(node "c$i" --cluster-enabled yes --cluster-port "$(free_port)" \
        --cluster-config-file "$DIR/c$i/nodes.conf" --cluster-node-timeout 1000 \
        --repl-diskless-sync-delay 0)
    seeds+=("redis://127.0.0.1:$p") addrs+=("127.0.0.1:$p")
done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
until redis-cli -p "${addrs[0]#*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
CLUSTER=$(IFS=,; echo "${seeds[*]}")

primary=$(node primary --repl-diskless-sync-delay 0)
replica=$(node replica --replicaof 127.0.0.1 "$primary")
until redis-cli -p "$primary" info replication | grep -q ',state=online,'; do sleep 0.1; done

run() {
    echo "== $1 (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    shift
    "$BENCH" $RUN "$@" >>"$OUT/cluster.jsonl" || true
}

for round in 1 2 3; do
    run "single redis, round $round" --label "single redis" --store redis
    run "cluster, round $round" --label "cluster 3x2" --store redis --redis-url "$CLUSTER" \
        --relay-env RELAY_REDIS_CLUSTER=true
done
for round in 1 2 3; do
    run "primary+replica wait 0, round $round" --label "primary+replica wait 0" \
        --store redis --redis-url "redis://127.0.0.1:$primary/"
    run "primary+replica wait 1, round $round" --label "primary+replica wait 1" \
        --store redis --redis-url "redis://127.0.0.1:$primary/" \
        --relay-env RELAY_REDIS_WAIT_REPLICAS=1
done
