#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md: the headline runs, more rooms,
# 10k idle connections, resume of 1,000 events, the rate sweep and its chart.
# Results go to $OUT (JSON lines: headline.jsonl, sweep.jsonl); the chart to
# $CHART. Takes about 8 minutes on a 2-core machine. Run from the workspace root.
# Needs python3 (to stop a sweep series at its first collapsed point).
set -euo pipefail

OUT=${OUT:-target/bench-results}
CHART=${CHART:-docs/bench-latency.svg}
RATES=${RATES:-1000,2000,3000,4000,5000,6000,7500,10000,15000,20000}
mkdir -p "$OUT"
cargo build --release -q -p relay -p relay-bench
BENCH=target/release/relay-bench

run() {
    echo "== $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$BENCH" --quiet "$@" >>"$OUT/headline.jsonl" || true
}

# Maximum throughput (closed loop) and a fixed 5,000 relays/s, per store and node count.
run --label "memory 1 node closed8" --store memory --mode closed --inflight 8 --duration 10
run --label "file store 1 node closed8" --store embedded --mode closed --inflight 8 --duration 10
run --label "redis 1 node closed8" --store redis --mode closed --inflight 8 --duration 10
run --label "redis 3 nodes closed8" --store redis --nodes 3 --mode closed --inflight 8 --duration 10
run --label "memory 1 node open 5000" --store memory --rate 5000 --duration 10
run --label "file store 1 node open 1000" --store embedded --rate 1000 --duration 10
run --label "redis 1 node open 5000" --store redis --rate 5000 --duration 10
run --label "redis 3 nodes open 5000" --store redis --nodes 3 --rate 5000 --duration 10
run --label "memory 1 node open 5000, 20% consent" --store memory --rate 5000 --consent-share 0.2 --duration 10
run --label "redis 1 node open 5000, 20% consent" --store redis --rate 5000 --consent-share 0.2 --duration 10

# Does throughput scale with rooms? (1,500 connections)
run --label "memory 1 node closed8 500 rooms" --store memory --mode closed --rooms 500 --inflight 8 --duration 10
run --label "redis 1 node closed8 500 rooms" --store redis --mode closed --rooms 500 --inflight 8 --duration 10
run --label "redis 1 node closed2 500 rooms" --store redis --mode closed --rooms 500 --inflight 2 --duration 10
run --label "redis 3 nodes closed8 500 rooms" --store redis --nodes 3 --mode closed --rooms 500 --inflight 8 --duration 10

# Memory per idle connection, and resume.
run --label "idle 10k memory" --store memory --idle-conns 10000
run --label "idle 10k redis" --store redis --idle-conns 10000
run --label "resume 1000 memory" --store memory --resume-events 1000
run --label "resume 1000 file store" --store embedded --resume-events 1000
run --label "resume 1000 redis" --store redis --resume-events 1000

# Latency against offered rate, a fresh relay per point. A series stops after
# its first collapsed point: relays lost, under 95% of the offered rate
# delivered, or p99 over 1 s.
collapsed() {
    python3 -c '
import json, sys
d = json.loads(sys.stdin.read().splitlines()[-1])
l = d["load"]
bad = not d["ok"] or l["relays_per_sec"] < 0.95 * l["offered_rate"] or l["latency_us"]["p99"] > 1e6
sys.exit(0 if bad else 1)'
}
for series in "memory, 1 node|--store memory" "redis, 1 node|--store redis" "redis, 3 nodes|--store redis --nodes 3"; do
    label=${series%%|*}
    opts=${series#*|}
    for rate in ${RATES//,/ }; do
        echo "== sweep $label at $rate/s (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        # shellcheck disable=SC2086
        line=$("$BENCH" --quiet --duration 6 --warmup 2 --drain-timeout 10 $opts \
            --sweep "$rate" --sweep-out "$OUT/sweep.jsonl" --label "$label" || true)
        if [ -z "$line" ] || collapsed <<<"$line"; then
            break
        fi
    done
done
target/release/bench-chart --out "$CHART" "$OUT/sweep.jsonl"
