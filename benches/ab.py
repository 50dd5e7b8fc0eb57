#!/usr/bin/env python3
"""Interleaved A/B of echo servers under the peers' loadgen: server CPU per message.

    python3 benches/ab.py ROUNDS SECONDS LOADGEN_ARGS... -- NAME=COMMAND[@@MODE] ...

Each COMMAND is started pinned to CPU 0 with `--listen 127.0.0.1:PORT --cores 1`
appended, loaded from CPU 1 by `benches/peers/target/release/loadgen
LOADGEN_ARGS --addr ... --duration SECONDS`, and killed; `@@MODE` replaces the
loadgen mode (the first LOADGEN_ARG) for that server. Servers run one after
the other within each round. Printed per run and, at the end, as medians with
ratios to the LAST server (the baseline). For example, two builds of the demo
against tokio-tungstenite with 1 MiB messages:

    python3 benches/ab.py 3 5 ws-echo --conns 8 --size 1048576 --engine uring -- \\
        new="target/release/examples/demo --driver epoll" \\
        old="/tmp/demo-before --driver epoll" \\
        hyper=benches/peers/target/release/hyper-server
"""
import json, os, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.path.join(ROOT, "benches", "peers", "target", "release", "loadgen")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def run_one(command, loadgen_args, seconds, port):
    command, _, mode = command.partition("@@")
    args = list(loadgen_args)
    if mode:
        args[0] = mode
    server = subprocess.Popen(
        ["taskset", "-c", "0"] + command.split() + ["--listen", f"127.0.0.1:{port}", "--cores", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        before = cpu_ticks(server.pid)
        load = subprocess.run(
            ["taskset", "-c", "1", LOADGEN] + args + ["--addr", f"127.0.0.1:{port}", "--duration", seconds],
            capture_output=True, text=True)
        after = cpu_ticks(server.pid)
    finally:
        server.kill()
        server.wait()
    if load.returncode != 0:
        raise RuntimeError(load.stderr.strip()[-300:])
    report = json.loads(load.stdout.strip().splitlines()[-1])
    cpu_per_100k = (after - before) / TICK / max(report["messages"], 1) * 1e5
    return report["messages_per_sec"], cpu_per_100k


def main():
    if "--" not in sys.argv or len(sys.argv) < 5:
        sys.exit(__doc__)
    split = sys.argv.index("--")
    rounds, seconds, loadgen_args = int(sys.argv[1]), sys.argv[2], sys.argv[3:split]
    servers = [arg.split("=", 1) for arg in sys.argv[split + 1:]]
    results = {name: [] for name, _ in servers}
    port = 7100
    for r in range(rounds):
        for name, command in servers:
            port += 1
            rate, cpu = run_one(command, loadgen_args, seconds, port)
            results[name].append((rate, cpu))
            print(f"round {r + 1}: {name:16} {rate:>10.0f} msg/s  {cpu:.3f} CPU-s per 100k", flush=True)
    base = servers[-1][0]
    base_rate = statistics.median(r for r, _ in results[base])
    base_cpu = statistics.median(c for _, c in results[base])
    for name, _ in servers:
        rate = statistics.median(r for r, _ in results[name])
        cpu = statistics.median(c for _, c in results[name])
        print(f"{name:16} rate {rate:>10.0f} ({rate / base_rate:.2f}x)  CPU per 100k {cpu:.3f} ({cpu / base_cpu:.2f}x)")


if __name__ == "__main__":
    main()
