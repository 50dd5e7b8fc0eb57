#!/usr/bin/env bash
# User-space instructions per request under callgrind: a figure that does not
# move with the machine's noise (the kernel's share is not counted).
#
#   bash benches/callgrind.sh MODE N SERVER [ARGS...]
#   bash benches/callgrind.sh h1pipe 50000 target/release/examples/demo --cores 1 --driver epoll
#   bash benches/callgrind.sh h2 50000 benches/peers/target/release/hyper-server --cores 1
#
# MODE: h1 (keep-alive, 16 connections), h1pipe (16 connections, 16 requests
# in flight on each), h2 (h2c prior knowledge, 16 connections x 100 streams).
# Needs valgrind and h2load (nghttp2-client). The server is started with
# `--listen 127.0.0.1:$CALLGRIND_PORT` (default 8096) plus ARGS and loaded on
# GET /plaintext. CALLGRIND_HEADER (e.g. "cookie: sid=...") adds a request
# header to every request. CALLGRIND_VARY=K makes every request's head differ
# from the one before it on its connection: each connection cycles through K
# targets /plaintext?v=0 .. /plaintext?v=K-1 (h2load -i), so nothing can
# answer a head from the previous one.
set -euo pipefail
mode=$1 n=$2 server=$3
port=${CALLGRIND_PORT:-8096}
shift 3
hdr=()
[ -n "${CALLGRIND_HEADER:-}" ] && hdr=(-H "$CALLGRIND_HEADER")
uris=(http://127.0.0.1:$port/plaintext)
if [ -n "${CALLGRIND_VARY:-}" ]; then
  list=$(mktemp /tmp/callgrind-uris.XXXXXX)
  for i in $(seq 0 $((CALLGRIND_VARY - 1))); do echo "http://127.0.0.1:$port/plaintext?v=$i"; done >"$list"
  uris=(-i "$list")
fi
out=$(mktemp /tmp/callgrind.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$out" "$server" --listen 127.0.0.1:$port "$@" >/dev/null 2>&1 &
vg=$!
for _ in $(seq 100); do
  curl -s -o /dev/null http://127.0.0.1:$port/plaintext && break
  sleep 0.3
done
case $mode in
  h1) h2load --h1 -n "$n" -c 16 -m 1 -t 1 "${hdr[@]}" "${uris[@]}" | grep '^requests:' ;;
  h1pipe) h2load --h1 -n "$n" -c 16 -m 16 -t 1 "${hdr[@]}" "${uris[@]}" | grep '^requests:' ;;
  h2) h2load -n "$n" -c 16 -m 100 -t 1 "${hdr[@]}" "${uris[@]}" | grep '^requests:' ;;
  *) echo "unknown mode $mode" >&2; kill "$vg"; exit 2 ;;
esac
kill -INT "$vg"; sleep 0.5; kill -TERM "$vg" 2>/dev/null || true
wait "$vg" 2>/dev/null || true
ir=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
[ -n "${KEEP_CALLGRIND:-}" ] && cp "$out" "$KEEP_CALLGRIND"; rm -f "$out" ${list:+"$list"}
echo "$(basename "$server") $mode: $((ir / n)) instructions/request (user space, startup included)"
