#!/usr/bin/env python3
"""Client-library CPU per request: percore's Client, hyper-util's pooled
legacy Client and reqwest, against the same server in the same run.

Starts one server (the demo, `--cores 1`, pinned to --server-cpu); for each
round, protocol (h1, h2 with prior knowledge) and client in turn
(interleaved), runs the client binary pinned to --client-cpu: `--conns`
tasks on one thread, each sending sequential GETs to /plaintext until
`--requests` responses came back. Reports the client process's CPU time
per request (user + system from wait4's rusage), median and spread (min-max)
over rounds, and its ratio to hyper and to reqwest of the same round.

    cargo build --release -p percore-client --example client_bench
    (cd benches/peers && cargo build --release --bin client-bench)
    python3 benches/client_cpu.py --rounds 5 --requests 100000

The floor rows run percore-load-floor (load/src/floor, `cargo build
--release -p percore-load`): the same requests from one thread with raw
epoll or io_uring, canned request bytes, responses counted by their known
length (h1: `--conns` connections, one request in flight on each; h2: one
connection with `--conns` streams in flight), no client library at all.
`--peer PATH` names the peers' client-bench binary when it was built in
another checkout.

`--before PATH` also runs PATH (a client_bench built from an earlier
commit, copied aside) as `percore-before` in every round: a before/after
comparison in the same run.
"""
import argparse, json, os, signal, socket, statistics, subprocess, sys, time

from compare import fmt_spread, free_port, wait_port  # the shared harness helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "target", "release", "examples", "demo")
PERCORE = os.path.join(ROOT, "target", "release", "examples", "client_bench")
PEER = os.path.join(ROOT, "benches", "peers", "target", "release", "client-bench")
FLOOR = os.path.join(ROOT, "target", "release", "percore-load-floor")


def bench_args(binary):
    """The client_bench command line (percore's and the peers')."""
    def build(url, conns, requests, h2):
        return binary + ["--url", url, "--conns", str(conns), "--requests", str(requests)] + (["--h2"] if h2 else [])
    return build


def floor_args(driver):
    """The floor's command line for the same requests."""
    def build(url, conns, requests, h2):
        shape = ["-c", "1", "--h2", "-m", str(conns)] if h2 else ["-c", str(conns)]
        return [FLOOR, url, "-n", str(requests), "--driver", driver, "--json", "/dev/stdout"] + shape
    return build


CLIENTS = {
    "percore": bench_args([PERCORE]),
    "hyper-util": bench_args([PEER, "--client", "hyper"]),
    "reqwest": bench_args([PEER, "--client", "reqwest"]),
    "floor-uring": floor_args("uring"),
    "floor-epoll": floor_args("epoll"),
}


def run(cmd, cpu):
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed: {out[-400:]}")
    data = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    if data["errors"]:
        raise RuntimeError(f"{cmd}: {data['errors']} errors")
    n = data["requests"]
    seconds = data["seconds"] if "seconds" in data else data["duration_s"]
    return {"cpu_us": (ru.ru_utime + ru.ru_stime) * 1e6 / n, "user_us": ru.ru_utime * 1e6 / n,
            "sys_us": ru.ru_stime * 1e6 / n, "rps": n / seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--protocols", default="h1,h2")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--before", help="an earlier build of client_bench, run as percore-before")
    ap.add_argument("--peer", help="the peers' client-bench binary (default: benches/peers/target/release)")
    ap.add_argument("--clients", help="comma-separated rows to keep (hyper-util and reqwest always run)")
    opts = ap.parse_args()
    if opts.peer:
        CLIENTS["hyper-util"] = bench_args([opts.peer, "--client", "hyper"])
        CLIENTS["reqwest"] = bench_args([opts.peer, "--client", "reqwest"])
    if opts.before:
        CLIENTS["percore-before"] = bench_args([opts.before])
    if opts.clients:
        keep = set(opts.clients.split(",")) | {"hyper-util", "reqwest"}
        for name in [n for n in CLIENTS if n not in keep]:
            del CLIENTS[name]
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", opts.server_cpu, DEMO, "--listen", f"127.0.0.1:{port}", "--cores", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        if not wait_port(port):
            raise SystemExit("demo did not start")
        url = f"http://127.0.0.1:{port}/plaintext"
        for r in range(opts.rounds):
            for proto in opts.protocols.split(","):
                row = {}
                for name, build in CLIENTS.items():
                    row[name] = run(build(url, opts.conns, opts.requests, proto == "h2"), opts.client_cpu)
                for name, res in row.items():
                    res["vs_hyper"] = res["cpu_us"] / row["hyper-util"]["cpu_us"]
                    res["vs_reqwest"] = res["cpu_us"] / row["reqwest"]["cpu_us"]
                    results.setdefault((proto, name), []).append(res)
                    print(f"round {r + 1} {proto} {name}: {res['cpu_us']:.2f} µs/req, {res['rps']:.0f} req/s, "
                          f"{res['vs_hyper']:.2f}x hyper, {res['vs_reqwest']:.2f}x reqwest", file=sys.stderr, flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    print(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: demo --cores 1 on CPU {opts.server_cpu}, "
          f"clients on CPU {opts.client_cpu}, {opts.conns} tasks, {opts.requests} requests per run, "
          f"{opts.rounds} rounds (interleaved), median (min–max).\n")
    print("Command: `python3 benches/client_cpu.py " + " ".join(sys.argv[1:]) + "`\n")
    print("| protocol | client | CPU µs / req | user µs | sys µs | req/s | vs hyper-util | vs reqwest |")
    print("|---|---|---|---|---|---|---|---|")
    for (proto, name), runs in results.items():
        print(f"| {proto} | {name} | {fmt_spread([x['cpu_us'] for x in runs], '{:.2f}')} | "
              f"{statistics.median([x['user_us'] for x in runs]):.2f} | {statistics.median([x['sys_us'] for x in runs]):.2f} | "
              f"{fmt_spread([x['rps'] for x in runs], '{:.0f}')} | {fmt_spread([x['vs_hyper'] for x in runs], '{:.2f}')}× | "
              f"{fmt_spread([x['vs_reqwest'] for x in runs], '{:.2f}')}× |")


if __name__ == "__main__":
    main()
