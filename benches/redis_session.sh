#!/usr/bin/env bash
# Round trips to Redis per session lookup, counted by Redis itself
# (INFO commandstats before and after a load of /whoami with a session
# cookie), and how many socket writes carried them (pipelining).
#
# usage: benches/redis_session.sh [DEMO_BINARY] [DRIVER]
#   DEMO_BINARY defaults to target/release/examples/demo; DRIVER to epoll.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${1:-target/release/examples/demo}
DRIVER=${2:-epoll}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
RPID=$!
OUT=$(mktemp)
trap 'kill $RPID 2>/dev/null; [ -n "${DPID:-}" ] && kill $DPID 2>/dev/null; rm -f "$OUT" /tmp/percore-bench-jar.txt' EXIT
until redis-cli -p "$RPORT" PING >/dev/null 2>&1; do sleep 0.05; done
"$DEMO" --listen 127.0.0.1:0 --cores 2 --driver "$DRIVER" \
  --redis "redis://127.0.0.1:$RPORT" --secret 0123456789abcdef0123456789abcdef >"$OUT" 2>/dev/null &
DPID=$!
until grep -q "listening on" "$OUT"; do sleep 0.05; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\) .*/\1/p' "$OUT")
curl -s -c /tmp/percore-bench-jar.txt -d user=ada "http://$ADDR/login" >/dev/null
COOKIE=$(awk '$6=="percore.session"{print $7}' /tmp/percore-bench-jar.txt)
stats() { redis-cli -p "$RPORT" INFO commandstats | tr -d '\r' ; }
calls() { stats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"; }
# Every command but INFO (this script's own), summed.
total() { stats | awk -F'[=,]' '/^cmdstat_/ && !/^cmdstat_info:/ {n += $2} END {print n+0}'; }
# Reads Redis made from its clients' sockets (each carries one or more commands).
reads() { redis-cli -p "$RPORT" INFO stats | tr -d '\r' | sed -n 's/^total_reads_processed://p'; }
LUA=$(mktemp --suffix=.lua)
cat > "$LUA" <<LUA
done = function(summary, latency, requests)
  io.stderr:write(string.format("wrk_requests=%d non2xx=%d\n", summary.requests, summary.errors.status))
end
LUA
for CONNS in 1 64; do
  R0=$(reads); G0=$(calls get); T0=$(total)
  wrk -t1 -c$CONNS -d5s -s "$LUA" -H "Cookie: percore.session=$COOKIE" "http://$ADDR/whoami" 2>"$OUT.wrk" >/dev/null
  REQ=$(sed -n 's/wrk_requests=\([0-9]*\).*/\1/p' "$OUT.wrk"); NON2XX=$(sed -n 's/.*non2xx=\([0-9]*\)/\1/p' "$OUT.wrk")
  R1=$(reads); G1=$(calls get); T1=$(total)
  # Less this script's own: 3 redis-cli connections in between (G0, T0,
  # R1), 2 reads each (the command, then the close).
  echo "connections=$CONNS requests=$REQ non-2xx=$NON2XX redis: GET calls=$((G1-G0)) all commands=$((T1-T0)) socket reads=$((R1-R0-6))"
done
rm -f "$LUA" "$OUT.wrk"

# CPU per /whoami request (utime+stime of the demo from /proc/PID/stat,
# and of redis-server), cookie store vs Redis store, one core each,
# interleaved, 3 rounds of 5 s with wrk -c 32.
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
OUT2=$(mktemp)
"$DEMO" --listen 127.0.0.1:0 --cores 1 --driver "$DRIVER" \
  --secret 0123456789abcdef0123456789abcdef >"$OUT2" 2>/dev/null &
CPID=$!
trap 'kill $RPID $CPID 2>/dev/null; [ -n "${DPID:-}" ] && kill $DPID 2>/dev/null; rm -f "$OUT" "$OUT2" /tmp/percore-bench-jar*.txt' EXIT
until grep -q "listening on" "$OUT2"; do sleep 0.05; done
CADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\) .*/\1/p' "$OUT2")
curl -s -c /tmp/percore-bench-jar2.txt -d user=ada "http://$CADDR/login" >/dev/null
CCOOKIE=$(awk '$6=="percore.session"{print $7}' /tmp/percore-bench-jar2.txt)
# The Redis-store demo again, on one core like the cookie one.
kill $DPID; wait $DPID 2>/dev/null || true
"$DEMO" --listen 127.0.0.1:0 --cores 1 --driver "$DRIVER" \
  --redis "redis://127.0.0.1:$RPORT" --secret 0123456789abcdef0123456789abcdef >"$OUT" 2>/dev/null &
DPID=$!
until grep -q "listening on" "$OUT"; do sleep 0.05; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\) .*/\1/p' "$OUT")
curl -s -c /tmp/percore-bench-jar.txt -d user=ada "http://$ADDR/login" >/dev/null
COOKIE=$(awk '$6=="percore.session"{print $7}' /tmp/percore-bench-jar.txt)
run_one() { # NAME PID ADDR COOKIE [EXTRA_PID]
  local c0 e0 c1 e1 req
  c0=$(cpu "$2"); e0=${5:+$(cpu "$5")}
  req=$(wrk -t1 -c32 -d5s -H "Cookie: percore.session=$4" "http://$3/whoami" | awk '/requests in/{print $1}')
  c1=$(cpu "$2"); e1=${5:+$(cpu "$5")}
  local line
  line=$(awk -v n="$1" -v r="$req" -v c=$((c1-c0)) -v t="$TCK" 'BEGIN{printf "%s: %d req, demo %.1f us CPU/req", n, r, c*1e6/t/r}')
  if [ -n "${5:-}" ]; then
    line="$line$(awk -v r="$req" -v c=$((e1-e0)) -v t="$TCK" 'BEGIN{printf ", redis-server %.1f us CPU/req", c*1e6/t/r}')"
  fi
  echo "$line"
}
for ROUND in 1 2 3; do
  run_one "round $ROUND cookie store" "$CPID" "$CADDR" "$CCOOKIE"
  run_one "round $ROUND redis store " "$DPID" "$ADDR" "$COOKIE" "$RPID"
done
