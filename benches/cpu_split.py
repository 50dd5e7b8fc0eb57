#!/usr/bin/env python3
"""User and system CPU per request of any server commands, side by side.

    python3 benches/cpu_split.py ROUNDS SCENARIO NAME=COMMAND [NAME=COMMAND ...]
    python3 benches/cpu_split.py 5 pipelined percore="target/release/examples/demo --driver epoll" \\
        may=benches/peers/target/release/may-minihttp-server \\
        canned=benches/peers/target/release/canned-server

SCENARIO is compare.py's `plaintext` (keep-alive) or `pipelined` (×16),
loaded by percore-load with compare.py's command (64 connections, 4 s).
Each round starts every server in turn on CPU 0 (`COMMAND --listen
127.0.0.1:PORT --cores 1`), loads it from CPU 1 and reads the server's
utime and stime around the load. Prints, per server, the medians in µs
per request and every round's user+system figures. compare_base.py with
`SPLIT=FILE` records the same split for compare.py's named servers;
this takes any binaries (builds before and after a change, test builds).
Hold /tmp/bench.lock while it runs (`flock /tmp/bench.lock python3 ...`).
"""
import os
import statistics
import subprocess
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def measure(cmd, scenario, opts):
    """(user, system) µs of server CPU per request for one load of `cmd`."""
    port = compare.free_port()
    server = subprocess.Popen(["taskset", "-c", opts.server_cpus] + cmd.split() +
                              ["--listen", f"127.0.0.1:{port}", "--cores", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not compare.wait_port(port):
            raise RuntimeError(f"{cmd}: did not start")
        user0, sys0 = compare.cpu_ticks_split(server.pid)
        requests = compare.run_percore_load(scenario, f"http://127.0.0.1:{port}", opts)[0]
        user1, sys1 = compare.cpu_ticks_split(server.pid)
    finally:
        compare.stop_server(server)
    per = 1e6 / compare.TICK / requests
    return (user1 - user0) * per, (sys1 - sys0) * per


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ("plaintext", "pipelined"):
        sys.exit(__doc__)
    rounds, scenario = int(sys.argv[1]), sys.argv[2]
    servers = [arg.split("=", 1) for arg in sys.argv[3:]]
    opts = SimpleNamespace(duration=4, connections=64, server_cpus="0", load_cpus="1")
    figures = {name: [] for name, _ in servers}
    for _ in range(rounds):
        for name, cmd in servers:
            figures[name].append(measure(cmd, scenario, opts))
    for name, rows in figures.items():
        user = statistics.median(u for u, _ in rows)
        system = statistics.median(s for _, s in rows)
        total = statistics.median(u + s for u, s in rows)
        each = " ".join(f"{u:.3f}+{s:.3f}" for u, s in rows)
        print(f"{name:14s} user {user:.3f} sys {system:.3f} total {total:.3f} µs/req   rounds: {each}")


if __name__ == "__main__":
    main()
