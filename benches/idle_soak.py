#!/usr/bin/env python3
"""Issue 19's soak: many idle connections on one core, with churn, and
the rate of new requests with and without them.

The demo server runs on CPU 0 (`--cores 1`, pinned); this script, its
idle connections, its churn and h2load run on CPU 1, so nothing the
client side does takes the server's core.

1. Rates (fair, no churn): `--rounds` rounds, each of
   - "alone": `h2load --h1 -c 16 -n REQUESTS` on GET /plaintext with no
     other connection open;
   - "held": N keep-alive connections opened (each does one GET and then
     idles), the same h2load run while they are held, then they are
     closed with a reset (no TIME_WAIT left behind).
   Each run reports h2load's rate and the server's CPU time (user +
   system, from /proc) per request over the run: the server is alone on
   its core, so a CPU-per-request ratio held/alone near 1 is the "full
   speed meanwhile" check; the rate ratio is reported beside it (h2load's
   pace, one thread on the other core, can set the rate on its own).
2. Soak: N connections opened and held for D seconds while a client
   churns (connect, GET, close, one connection after another), sampling
   the server's VmRSS every few seconds. Each held connection makes one
   request every 20 s, within the 30 s keep-alive timeout: all of them
   make one right after the last is opened (so the time opening takes
   does not count against it), and the rounds keep a fixed 5 s schedule.
   Reports the RSS samples, the growth after the warm-up (the first
   sample), the connections churned, and `longest_idle_s` (the longest a
   held connection waited between two of its requests, client side).

usage:
  idle_soak.py -n 19000 --duration 60 --driver epoll
  idle_soak.py -n 19000 --duration 60 --driver uring --max-growth-kib 2048
With --max-growth-kib the run fails (exit 1) when RSS grows more than that
after the warm-up sample. The ratios are reported, not checked: on this
shared 2-core machine they move with the other jobs (run it under the
benchmark lock).
"""
import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_idle_memory import REQUEST, free_port, open_idle, read_answer, rss_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The server's core, and the client side's (this script, h2load).
SERVER_CPU, CLIENT_CPU = "0", "1"


def cpu_s(pid):
    """The process's CPU time (user + system) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def h2load_run(port, n, pid):
    """One h2load run on CPU 1: (its rate in req/s, the server's CPU µs
    per request over the run)."""
    before = cpu_s(pid)
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, "h2load", "--h1", "-n", str(n), "-c", "16",
                          "-m", "1", "-t", "1", f"http://127.0.0.1:{port}/plaintext"],
                         capture_output=True, text=True, check=True).stdout
    cpu_us = (cpu_s(pid) - before) * 1e6 / n
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    if not done or not rate or int(done.group(2)) != n:
        raise RuntimeError(f"h2load failed:\n{out}")
    return float(rate.group(1)), round(cpu_us, 3)


def close_reset(conns):
    """Closes with a reset: no TIME_WAIT left on the client's ports."""
    for s in conns:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def settle(pid, quiet=0.2, most=5.0):
    """Waits (at least 0.5 s, at most `most`) until the server has used no
    CPU for `quiet` seconds: work left from the last step (closing 19 000
    connections) must not count in the next run."""
    time.sleep(0.5)
    end = time.monotonic() + most
    last = cpu_s(pid)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = cpu_s(pid)
        if now == last:
            return
        last = now


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def rates(port, pid, n, rounds, requests):
    """Phase 1: interleaved h2load runs alone and with `n` idle connections
    held (opened before, closed after each held run)."""
    h2load_run(port, requests // 4, pid)  # warm-up
    alone, held, open_s = [], [], []
    for r in range(rounds):
        # ABBA: alone first in even rounds, held first in odd ones.
        if r % 2 == 0:
            settle(pid)
            alone.append(h2load_run(port, requests, pid))
        t = time.monotonic()
        conns = open_idle(port, n)
        open_s.append(round(time.monotonic() - t, 2))
        settle(pid)  # past the workers' quiet spell: the connections idle
        held.append(h2load_run(port, requests, pid))
        # Still served.
        for c in conns[:: max(1, n // 100)]:
            c.sendall(REQUEST)
            assert read_answer(c).startswith(b"HTTP/1.1 200")
        close_reset(conns)
        if r % 2 == 1:
            settle(pid)  # the resets handled: nothing else counts
            alone.append(h2load_run(port, requests, pid))
    cpu_ratio = [round(h[1] / a[1], 3) for a, h in zip(alone, held)]
    rate_ratio = [round(h[0] / a[0], 3) for a, h in zip(alone, held)]
    return {"open_s": open_s,
            "rate_alone": [a[0] for a in alone], "rate_held": [h[0] for h in held],
            "cpu_us_per_req_alone": [a[1] for a in alone],
            "cpu_us_per_req_held": [h[1] for h in held],
            "cpu_ratio_held_alone": cpu_ratio, "cpu_ratio_median": median(cpu_ratio),
            "rate_ratio_held_alone": rate_ratio, "rate_ratio_median": median(rate_ratio)}


def churn(port, stop, counter):
    while not stop.is_set():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQUEST)
        assert read_answer(s).startswith(b"HTTP/1.1 200")
        s.close()
        counter[0] += 1


def touch(conns, indices, last):
    """One request on each of conns[indices], all sent before any answer is
    read; records in `last` when each was answered and returns the longest
    time one of them had been idle. A connection closed instead says how
    long it had been idle, so a schedule that overran the keep-alive
    timeout is told apart from a server that closed too early."""
    indices = list(indices)
    sent = time.monotonic()
    for i in indices:
        conns[i].sendall(REQUEST)
    longest = 0.0
    for i in indices:
        idle = sent - last[i] if i in last else 0.0
        try:
            status = read_answer(conns[i])
        except (RuntimeError, OSError) as e:
            raise SystemExit(f"connection {i} failed after {idle:.1f} s idle "
                             f"(keep-alive timeout 30 s): {e}")
        assert status.startswith(b"HTTP/1.1 200"), status
        longest = max(longest, idle)
        last[i] = time.monotonic()
    return longest


def soak(port, pid, n, duration):
    """Phase 2: `n` held connections and churn for `duration` seconds."""
    rss_start = rss_kib(pid)
    t_open = time.monotonic()
    conns = open_idle(port, n)
    open_s = time.monotonic() - t_open
    rss_idle = rss_kib(pid)
    # The first connections have been idle since they were opened: one
    # request on each now starts every keep-alive clock together.
    # (Each was answered about when it was opened: idle at most open_s.)
    last = dict.fromkeys(range(n), t_open)
    for group in range(4):  # in the rounds' groups: the same peak
        touch(conns, range(group, n, 4), last)
    longest = 0.0
    counter = [0]
    stop = threading.Event()
    worker = threading.Thread(target=churn, args=(port, stop, counter), daemon=True)
    worker.start()
    samples = []
    try:
        t0 = time.monotonic()
        turn = 0
        period = min(5.0, duration / 6)
        while time.monotonic() - t0 < duration:
            # A fixed schedule: a slow round is caught up, not added to
            # every later gap.
            time.sleep(max(0.0, t0 + (turn + 1) * period - time.monotonic()))
            # The server's keep-alive timeout is 30 s: each idle connection
            # makes one request every four samples (20 s) and idles again.
            touched = range(turn % 4, n, 4)
            longest = max(longest, touch(conns, touched, last))
            turn += 1
            samples.append(rss_kib(pid))
    finally:
        stop.set()
        worker.join()
    # The idle connections are still served.
    longest = max(longest, touch(conns, range(0, n, max(1, n // 100)), last))
    close_reset(conns)
    return {"open_s": round(open_s, 2), "longest_idle_s": round(longest, 2),
            # (After phase 1 the heap has held n connections before: RSS
            # per connection is http_idle_memory.py's figure, not this.)
            "rss_start_kib": rss_start, "rss_idle_kib": rss_idle,
            "rss_samples_kib": samples,
            "growth_after_warmup_kib": samples[-1] - samples[0],
            "churned": counter[0]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=19000, help="idle connections (at most 19000)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of churn")
    p.add_argument("--driver", default="uring", choices=["uring", "epoll"])
    p.add_argument("--rounds", type=int, default=4, help="alone/held h2load pairs (0: soak only)")
    p.add_argument("--requests", type=int, default=100000, help="requests per h2load run")
    p.add_argument("--server", default=os.path.join(ROOT, "target", "release", "examples", "demo"))
    p.add_argument("--max-growth-kib", type=float, help="fail if RSS grows more after warm-up")
    args = p.parse_args()
    n = max(1, min(args.n, 19000))
    # The client side (this script, its threads, h2load) stays off the
    # server's core.
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, args.server, "--listen",
                             f"127.0.0.1:{port}", "--cores", "1", "--driver", args.driver],
                            stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        result = {"driver": args.driver, "n": n, "duration_s": args.duration,
                  "requests": args.requests}
        if args.rounds > 0:
            result["rates"] = rates(port, proc.pid, n, args.rounds, args.requests)
        result["soak"] = soak(port, proc.pid, n, args.duration)
    finally:
        proc.kill()
        proc.wait()
    print(json.dumps(result))
    growth = result["soak"]["growth_after_warmup_kib"]
    if args.max_growth_kib is not None and growth > args.max_growth_kib:
        print(f"FAIL: RSS grew {growth} KiB after warm-up", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
