#!/usr/bin/env python3
"""Issue 19's soak: many idle connections on one core, with churn.

Starts target/release/examples/demo (one core, the given driver) on a free
loopback port and measures `h2load --h1 -c 16` on GET /plaintext (the rate
with no idle connection). Then opens N keep-alive connections that each do
one GET and stay idle, and for D seconds churns: connect, GET, close, one
connection after another, while sampling the server's VmRSS every few
seconds (each idle connection makes one more request every 20 s, within
the 30 s keep-alive timeout: all of them make one right after the last is
opened, so the time opening 19 000 takes, 5-11 s on this machine, does not
count against it, and the rounds keep a fixed 5 s schedule). Halfway through, the same h2load run measures the rate with the N
idle connections held. Reports the RSS samples, the growth after the
warm-up (the first sample), the churned connections, both rates, and the
server's CPU time per request over each h2load run (what else the server
did meanwhile, the churn and a round of held connections, counts in the
second: a rate ratio below 1 with the same CPU per request points at the
load generator, which shares the other core with this script). Stops the
server by PID.

usage:
  idle_soak.py -n 19000 --duration 60 --driver epoll
  idle_soak.py -n 19000 --duration 60 --driver uring --max-growth-kib 2048
With --max-growth-kib the run fails (exit 1) when RSS grows more than that
after the warm-up sample. The rate ratio is reported, not checked: on this
shared 2-core machine it moves with the other jobs.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_idle_memory import REQUEST, free_port, open_idle, read_answer, rss_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_s(pid):
    """The process's CPU time (user + system) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def h2load_rate(port, n, pid=None, cpu=None):
    """h2load's rate; with `pid`, appends the server's CPU µs per request
    over the run to `cpu` (everything the server did meanwhile counts)."""
    before = cpu_s(pid) if pid else None
    out = subprocess.run(["h2load", "--h1", "-n", str(n), "-c", "16", "-m", "1", "-t", "1",
                          f"http://127.0.0.1:{port}/plaintext"],
                         capture_output=True, text=True, check=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    if not done or not rate or int(done.group(2)) != n:
        raise RuntimeError(f"h2load failed:\n{out}")
    if pid:
        cpu.append(round((cpu_s(pid) - before) * 1e6 / n, 2))
    return float(rate.group(1))


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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=19000, help="idle connections (at most 19000)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of churn")
    p.add_argument("--driver", default="uring", choices=["uring", "epoll"])
    p.add_argument("--requests", type=int, default=100000, help="requests per h2load run")
    p.add_argument("--server", default=os.path.join(ROOT, "target", "release", "examples", "demo"))
    p.add_argument("--max-growth-kib", type=float, help="fail if RSS grows more after warm-up")
    args = p.parse_args()
    n = max(1, min(args.n, 19000))
    port = free_port()
    proc = subprocess.Popen([args.server, "--listen", f"127.0.0.1:{port}", "--cores", "1",
                             "--driver", args.driver], stdout=subprocess.PIPE)
    stop = threading.Event()
    try:
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        cpu = []
        rate_alone = h2load_rate(port, args.requests, proc.pid, cpu)
        rss_start = rss_kib(proc.pid)
        t_open = time.monotonic()
        conns = open_idle(port, n)
        open_s = time.monotonic() - t_open
        rss_idle = rss_kib(proc.pid)
        # The first connections have been idle since they were opened: one
        # request on each now starts every keep-alive clock together.
        # (Each was answered about when it was opened: idle at most open_s.)
        last = dict.fromkeys(range(n), t_open)
        for group in range(4):  # in the rounds' groups: the same peak
            touch(conns, range(group, n, 4), last)
        longest = 0.0
        counter = [0]
        worker = threading.Thread(target=churn, args=(port, stop, counter), daemon=True)
        worker.start()
        samples = []
        rate_held = None
        t0 = time.monotonic()
        turn = 0
        period = min(5.0, args.duration / 6)
        while time.monotonic() - t0 < args.duration:
            # A fixed schedule: a slow round (the h2load run) is caught up,
            # not added to every later gap.
            time.sleep(max(0.0, t0 + (turn + 1) * period - time.monotonic()))
            # The server's keep-alive timeout is 30 s: each idle connection
            # makes one request every four samples (20 s) and idles again.
            touched = range(turn % 4, n, 4)
            longest = max(longest, touch(conns, touched, last))
            turn += 1
            samples.append(rss_kib(proc.pid))
            if rate_held is None and time.monotonic() - t0 >= args.duration / 2:
                rate_held = h2load_rate(port, args.requests, proc.pid, cpu)
        stop.set()
        worker.join()
        # The idle connections are still served.
        longest = max(longest, touch(conns, range(0, n, max(1, n // 100)), last))
        result = {"driver": args.driver, "n": n, "duration_s": args.duration,
                  "open_s": round(open_s, 2),
                  "longest_idle_s": round(longest, 2),
                  "rss_start_kib": rss_start, "rss_idle_kib": rss_idle,
                  "kib_per_idle_conn": round((rss_idle - rss_start) / n, 2),
                  "rss_samples_kib": samples,
                  "growth_after_warmup_kib": samples[-1] - samples[0],
                  "churned": counter[0],
                  "rate_alone": rate_alone, "rate_with_idle": rate_held,
                  "rate_ratio": round(rate_held / rate_alone, 3) if rate_held else None,
                  "server_cpu_us_per_req_alone_with_idle": cpu}
        for s in conns:
            s.close()
    finally:
        stop.set()
        proc.kill()
        proc.wait()
    print(json.dumps(result))
    if args.max_growth_kib is not None and result["growth_after_warmup_kib"] > args.max_growth_kib:
        print(f"FAIL: RSS grew {result['growth_after_warmup_kib']} KiB after warm-up",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
