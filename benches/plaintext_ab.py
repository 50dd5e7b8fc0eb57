#!/usr/bin/env python3
"""Interleaved A/B of HTTP servers on GET /plaintext under wrk: requests/s
and server CPU per request, with per-round ratios to the FIRST server.

    python3 benches/plaintext_ab.py ROUNDS SECONDS -- NAME=COMMAND ...
    python3 benches/plaintext_ab.py 7 4 -- \\
        plain="target/release/examples/demo --driver epoll" \\
        metrics="target/release/examples/demo --driver epoll --metrics"

Each COMMAND is started pinned to CPU 0 (`taskset -c 0`) with `--listen
127.0.0.1:PORT --cores 1` appended, warmed with one request, loaded by
`wrk -t1 -c16 -dSECONDS` pinned to CPU 1, and killed. Servers run one after
the other in every round, in the order given, rotated by one each round
(round 2 starts with the second server), so that no server always runs
first. Server CPU is utime+stime
from /proc/PID/stat over the load. The ratios are taken within a round
(same minute of the machine's load), then summarised as median (min-max).
Ports come from AB_PORT (default 18760) upward. AB_CONNS sets wrk's
connections (default 16); AB_PIPELINE=N sends N pipelined requests per
write (benches/lua/pipeline.lua) instead of one.
"""
import os, re, signal, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab import cpu_ticks, wait_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PORT = int(os.environ.get("AB_PORT", "18760"))
CONNS = os.environ.get("AB_CONNS", "16")
PIPELINE = os.environ.get("AB_PIPELINE")
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua", "pipeline.lua")


def run_one(command, seconds, port):
    server = subprocess.Popen(
        ["taskset", "-c", "0"] + command.split() + ["--listen", f"127.0.0.1:{port}", "--cores", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/plaintext"
        subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True)
        before = cpu_ticks(server.pid)
        wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s"]
        if PIPELINE:
            wrk += ["-s", LUA, url, "--", "/plaintext", PIPELINE]
        else:
            wrk += [url]
        out = subprocess.run(wrk, capture_output=True, text=True).stdout
        after = cpu_ticks(server.pid)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"wrk saw errors: {out}")
    return reqs / float(seconds), (after - before) * 1e6 / TICK / reqs


def spread(xs):
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    rounds, seconds = int(sys.argv[1]), sys.argv[2]
    servers = [arg.split("=", 1) for arg in sys.argv[4:]]
    results = {name: [] for name, _ in servers}
    port = PORT
    for r in range(rounds):
        # Each round starts with the next server: none is always first.
        for name, command in servers[r % len(servers):] + servers[:r % len(servers)]:
            port += 1
            rps, us = run_one(command, seconds, port)
            results[name].append((rps, us))
            print(f"round {r + 1} {name:12} {rps:9.0f} req/s {us:7.2f} us CPU/request", flush=True)
    base = servers[0][0]
    print()
    print(f"| server | req/s median (min-max) | CPU us/request median (min-max) | rate / {base}, per round | CPU per request / {base}, per round |")
    print("|---|---|---|---|---|")
    for name, _ in servers:
        xs = results[name]
        rps = [x[0] for x in xs]
        us = [x[1] for x in xs]
        rate_ratio = [a[0] / b[0] for a, b in zip(xs, results[base])]
        cpu_ratio = [a[1] / b[1] for a, b in zip(xs, results[base])]
        print(f"| {name} | {statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) | {spread(us)} | "
              f"{spread(rate_ratio)} | {spread(cpu_ratio)} |")


if __name__ == "__main__":
    main()
