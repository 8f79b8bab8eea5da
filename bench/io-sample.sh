#!/bin/sh
# io-sample.sh BIN OUT: every 0.2 s, append "<epoch_ms> <pid> <wchar> <syscw> <write_bytes>" for each process running BIN.
BIN="$1"; OUT="$2"
while :; do
  for p in /proc/[0-9]*; do
    [ "$(readlink $p/exe 2>/dev/null)" = "$BIN" ] || continue
    io=$(cat $p/io 2>/dev/null) || continue
    w=$(echo "$io" | awk '/^wchar/{print $2}'); s=$(echo "$io" | awk '/^syscw/{print $2}'); b=$(echo "$io" | awk '/^write_bytes/{print $2}')
    echo "$(date +%s%3N) ${p#/proc/} $w $s $b" >> "$OUT"
  done
  sleep 0.2
done
