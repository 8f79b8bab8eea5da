#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md: the headline runs, 10k idle
# connections, resume of 1,000 events, the rate sweep and its chart.
# Results go to target/bench-results/ (JSON lines); the chart to docs/bench-latency.svg.
# Takes about 25 minutes on a 2-core machine. Run from the workspace root.
set -euo pipefail

OUT=${OUT:-target/bench-results}
RATES=${RATES:-500,1000,2000,3000,4000,5000,7500,10000}
mkdir -p "$OUT"
cargo build --release -q -p relay -p relay-bench
BENCH=target/release/relay-bench

run() {
    echo "== $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$BENCH" --quiet "$@" >>"$OUT/headline.jsonl" || true
}

# Maximum throughput (closed loop) and a fixed 5,000 relays/s, per store and node count.
run --label "embedded 1 node closed" --mode closed --inflight 8 --duration 10
run --label "redis 1 node closed" --store redis --mode closed --inflight 8 --duration 10
run --label "redis 3 nodes closed" --store redis --nodes 3 --mode closed --inflight 8 --duration 10
run --label "embedded 1 node open 5000" --rate 5000 --duration 10
run --label "redis 1 node open 5000" --store redis --rate 5000 --duration 10
run --label "redis 3 nodes open 5000" --store redis --nodes 3 --rate 5000 --duration 10
run --label "embedded 1 node open 5000, 20% consent" --rate 5000 --consent-share 0.2 --duration 10

# Memory per idle connection, and resume.
run --label "idle 10k embedded" --idle-conns 10000
run --label "idle 10k redis" --store redis --idle-conns 10000
run --label "resume 1000 embedded" --resume-events 1000
run --label "resume 1000 redis" --store redis --resume-events 1000

# Latency against offered rate, a fresh relay per point.
for series in "embedded, 1 node|" "redis, 1 node|--store redis" "redis, 3 nodes|--store redis --nodes 3"; do
    label=${series%%|*}
    opts=${series#*|}
    # shellcheck disable=SC2086
    "$BENCH" --quiet --duration 8 --warmup 2 --drain-timeout 10 $opts \
        --sweep "$RATES" --sweep-out "$OUT/sweep.jsonl" --label "$label" >/dev/null || true
done
target/release/bench-chart --out docs/bench-latency.svg "$OUT/sweep.jsonl"
