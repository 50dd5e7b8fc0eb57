#!/usr/bin/env bash
# Server CPU (utime + stime from /proc/PID/stat) per request of the demo on
# one core, loaded by h2load: steadier than requests/s on a noisy machine.
#
#   bash benches/cpu_per_request.sh MODE N [DRIVER]
#   PERCORE_PROVIDED_BUFFERS=0 bash benches/cpu_per_request.sh h1 100000 uring
#
# MODE: h1 (16 connections, keep-alive), h1pipe (16 connections x 16 in
# flight) or churn (wrk, 16 connections, `Connection: close`: a new
# connection per request; N is the duration in seconds and the request
# count comes from wrk). CPU_PATH picks the route (default /plaintext; e.g.
# /bytes/256 for a 256 KiB body). Environment variables (PERCORE_*) pass through to the server,
# for A/B runs of one binary. CPU_PORT picks the port (default 18733),
# DEMO the binary (default target/release/examples/demo), CPU_CONNS the
# connections of h1 and h1pipe (default 16).
set -euo pipefail
mode=$1 n=$2 driver=${3:-uring} port=${CPU_PORT:-18733} demo=${DEMO:-target/release/examples/demo} path=${CPU_PATH:-/plaintext} conns=${CPU_CONNS:-16}
"$demo" --listen 127.0.0.1:$port --cores 1 --driver "$driver" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$port/plaintext && break; sleep 0.1; done
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
case $mode in
  h1) h2load --h1 -n "$n" -c "$conns" -m 1 -t 1 http://127.0.0.1:$port$path >/dev/null ;;
  h1pipe) h2load --h1 -n "$n" -c "$conns" -m 16 -t 1 http://127.0.0.1:$port$path >/dev/null ;;
  churn)
    n=$(wrk -t1 -c16 -d"${n}s" -H 'Connection: close' http://127.0.0.1:$port$path |
      awk '/requests in/ {print $1}') ;;
  *) echo "unknown mode $mode" >&2; kill "$pid"; exit 2 ;;
esac
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
kill "$pid"; wait "$pid" 2>/dev/null || true
ticks=$(getconf CLK_TCK)
echo "$mode $driver: $(python3 -c "print(round(($u1-$u0+$s1-$s0)*1e6/$ticks/$n,2))") us CPU/request"
