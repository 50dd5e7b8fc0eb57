#!/usr/bin/env python3
"""RSS per idle HTTP/1.1 keep-alive connection of the demo server.

Starts target/release/examples/demo (one core, the given driver) on a free
loopback port, opens N connections, each sending one `GET /plaintext` and
reading the whole answer, then holds them idle (keep-alive, well within the
30 s keep-alive timeout) and reads the server's VmRSS from /proc:
(RSS after - RSS before) / N is the cost of one idle connection. A warm-up
of 200 connections (opened and closed) runs first so that one-off growth
(the per-core scratch buffer, allocator arenas) is not counted. Stops the
server by PID.

usage:
  http_idle_memory.py -n 10000 --driver epoll --max-kib 2
  http_idle_memory.py -n 10000 --driver uring
With --max-kib the run fails (exit 1) when an idle connection costs more.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_answer(sock):
    """Reads one answer with a Content-Length body; returns its status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before the answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(4096)
    return head.split(b"\r\n", 1)[0]


def open_idle(port, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQUEST)
        conns.append(s)
    for s in conns:
        status = read_answer(s)
        assert status.startswith(b"HTTP/1.1 200"), status
    return conns


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10000, help="idle connections (at most 19000)")
    p.add_argument("--driver", default="uring", choices=["uring", "epoll"])
    p.add_argument("--server", default=os.path.join(ROOT, "target", "release", "examples", "demo"))
    p.add_argument("--max-kib", type=float, help="fail if an idle connection costs more")
    args = p.parse_args()
    n = max(1, min(args.n, 19000))
    port = free_port()
    proc = subprocess.Popen([args.server, "--listen", f"127.0.0.1:{port}", "--cores", "1",
                             "--driver", args.driver], stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        for s in open_idle(port, 200):
            s.close()
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        t0 = time.monotonic()
        conns = open_idle(port, n)
        # Idle for longer than the server's quiet spell before it frees a
        # connection's worker (100 ms, http/src/server/h1/mod.rs).
        time.sleep(2.5)
        after = rss_kib(proc.pid)
        # Still alive and answering: every idle connection serves one more.
        for s in conns[:: max(1, n // 100)]:
            s.sendall(REQUEST)
            assert read_answer(s).startswith(b"HTTP/1.1 200")
        result = {"server": os.path.basename(args.server), "driver": args.driver, "n": n,
                  "rss_before_kib": before, "rss_after_kib": after,
                  "kib_per_idle_conn": round((after - before) / n, 2),
                  "open_s": round(time.monotonic() - t0, 1)}
        for s in conns:
            s.close()
    finally:
        proc.kill()
        proc.wait()
    print(json.dumps(result))
    if args.max_kib is not None and result["kib_per_idle_conn"] > args.max_kib:
        print(f"FAIL: {result['kib_per_idle_conn']} KiB per idle connection > {args.max_kib}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
