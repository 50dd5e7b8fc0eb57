#!/usr/bin/env bash
# The web layer's cost per request on /plaintext: bare, or behind three
# middlewares and a cookie session (the request carries a valid session
# cookie). Two figures, each measured for both stacks in the same round,
# interleaved, ROUNDS times:
#   - user-space instructions per request under callgrind (benches/callgrind.sh, h1 mode);
#   - the server's CPU time per request (utime+stime from /proc/PID/stat)
#     over N keep-alive requests from h2load, without valgrind.
#
#   cargo build --release --example web_stack
#   ROUNDS=3 bash benches/web_stack.sh 20000 200000
set -euo pipefail
ncg=${1:-20000} ncpu=${2:-200000}
rounds=${ROUNDS:-3}
bin=target/release/examples/web_stack
port=${CALLGRIND_PORT:-18722}
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && return; sleep 0.2; done; }
# A valid session cookie (the bench key is fixed, so it outlives the process).
"$bin" --listen 127.0.0.1:$port --stack full --cores 1 >/dev/null & pid=$!
wait_up
cookie=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/login" | sed -n 's/^set-cookie: \([^;]*\);.*/\1/Ip')
kill "$pid"; wait "$pid" 2>/dev/null || true
[ -n "$cookie" ] || { echo "no session cookie" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$rounds"); do
  for stack in bare full; do
    CALLGRIND_PORT=$port CALLGRIND_HEADER="cookie: $cookie" \
      bash benches/callgrind.sh h1 "$ncg" "$bin" --stack "$stack" --cores 1 --driver epoll |
      sed "s/^/round $r $stack callgrind: /"
    "$bin" --listen 127.0.0.1:$port --stack "$stack" --cores 1 --driver epoll >/dev/null & pid=$!
    wait_up
    h2load --h1 -n 5000 -c 16 -t 1 -H "cookie: $cookie" "http://127.0.0.1:$port/plaintext" >/dev/null
    t0=$(ticks "$pid")
    h2load --h1 -n "$ncpu" -c 16 -t 1 -H "cookie: $cookie" "http://127.0.0.1:$port/plaintext" | grep " 0 failed, 0 errored" >/dev/null
    t1=$(ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    hz=$(getconf CLK_TCK)
    echo "round $r $stack cpu: $(( (t1 - t0) * 1000000000 / hz / ncpu )) ns/request ($((t1 - t0)) ticks for $ncpu requests)"
  done
done
