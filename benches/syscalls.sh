#!/usr/bin/env bash
# Syscalls per request of HTTP/1.1 keep-alive servers on GET /plaintext:
# perf stat on the server's syscall tracepoints while `wrk -t1 -c16` loads it.
#
#   bash benches/syscalls.sh SECONDS SERVER_COMMAND...
#   SYSCALLS_PORT=30700 bash benches/syscalls.sh 3 \
#       "target/release/examples/demo --driver epoll" \
#       "benches/peers/target/release/canned-server"
#
# Each server is started pinned to CPU 0 with `--listen 127.0.0.1:PORT
# --cores 1` appended (PORT from SYSCALLS_PORT, default 18790, one more per
# server), warmed with one request and loaded from CPU 1; the counts cover
# the load (and perf's extra second). Run it under /tmp/bench.lock: the load
# disturbs other CPU measurements. Needs perf (linux-perf) and wrk.
set -euo pipefail
secs=$1
shift
port=${SYSCALLS_PORT:-18790}
events=raw_syscalls:sys_enter
for s in epoll_wait recvfrom sendto writev epoll_ctl io_uring_enter; do
  events+=",syscalls:sys_enter_$s"
done
out=$(mktemp /tmp/syscalls.XXXXXX)
for server in "$@"; do
  port=$((port + 1))
  # shellcheck disable=SC2086 # the command is split into its words on purpose
  taskset -c 0 $server --listen 127.0.0.1:$port --cores 1 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null http://127.0.0.1:$port/plaintext && break
    sleep 0.1
  done
  perf stat -e "$events" -p "$pid" -o "$out" -- sleep $((secs + 1)) &
  perf_pid=$!
  sleep 0.3
  reqs=$(taskset -c 1 wrk -t1 -c16 -d"${secs}"s http://127.0.0.1:$port/plaintext |
    grep -o '[0-9]* requests in' | cut -d' ' -f1)
  wait "$perf_pid"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "## $server: $reqs requests"
  awk -v r="$reqs" '$2 ~ /sys_enter/ { gsub(",", "", $1); printf "  %-40s %10d  %.3f/request\n", $2, $1, $1 / r }' "$out"
done
rm -f "$out"
