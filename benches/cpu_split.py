#!/usr/bin/env python3
"""User and system CPU per request of each server, side by side.

    python3 benches/cpu_split.py ROUNDS PIPELINE NAME=COMMAND [NAME=COMMAND ...]
    python3 benches/cpu_split.py 5 16 percore="target/release/examples/demo --driver epoll" \\
        may=benches/peers/target/release/may-minihttp-server \\
        canned=benches/peers/target/release/canned-server

Each round starts every server in turn on CPU 0 (`COMMAND --listen
127.0.0.1:PORT --cores 1`), loads `GET /plaintext` from CPU 1 with
percore-load for 4 s (64 connections; PIPELINE requests in flight on each,
1 for keep-alive) and reads the server's utime and stime from
/proc/PID/stat before and after. Prints, per server, the medians in µs
per request and every round's user+system figures. Ports are below the
ephemeral range (a run's TIME_WAIT client ports cannot collide with them).
Hold /tmp/bench.lock while it runs (`flock /tmp/bench.lock python3 ...`).
"""
import json
import os
import statistics
import subprocess
import sys
import time

LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "percore-load")


def cpu_ticks(pid):
    """(utime, stime) of `pid`, in clock ticks."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, pipeline = int(sys.argv[1]), sys.argv[2]
    servers = [arg.split("=", 1) for arg in sys.argv[3:]]
    tick = os.sysconf("SC_CLK_TCK")
    port = 20_000 + os.getpid() % 5_000
    figures = {name: [] for name, _ in servers}
    for _ in range(rounds):
        for name, cmd in servers:
            port += 1
            server = subprocess.Popen(["taskset", "-c", "0"] + cmd.split() +
                                      ["--listen", f"127.0.0.1:{port}", "--cores", "1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.7)
            user0, sys0 = cpu_ticks(server.pid)
            load = ["taskset", "-c", "1", LOAD, "-d", "4", "--cores", "1", "-c", "64",
                    "--json", "/dev/stdout", f"http://127.0.0.1:{port}/plaintext"]
            if pipeline != "1":
                load[-3:-3] = ["--pipeline", pipeline]
            out = subprocess.run(load, capture_output=True, text=True).stdout
            user1, sys1 = cpu_ticks(server.pid)
            server.send_signal(2)
            server.wait()
            requests = json.loads(out[out.index("{"):])["requests"]
            per = 1e6 / tick / requests
            figures[name].append(((user1 - user0) * per, (sys1 - sys0) * per))
    for name, rows in figures.items():
        user = statistics.median(u for u, _ in rows)
        system = statistics.median(s for _, s in rows)
        total = statistics.median(u + s for u, s in rows)
        each = " ".join(f"{u:.3f}+{s:.3f}" for u, s in rows)
        print(f"{name:14s} user {user:.3f} sys {system:.3f} total {total:.3f} µs/req   rounds: {each}")


if __name__ == "__main__":
    main()
