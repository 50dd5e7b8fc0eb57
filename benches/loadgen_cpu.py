#!/usr/bin/env python3
"""CPU per request of load generators against the same server, same run.

Starts one server (the demo, `--cores 1`, pinned to --server-cpu), then for
each round and scenario runs every load generator in turn (interleaved),
pinned to --load-cpu, and reports per scenario and loader the median and
spread (min-max) over rounds of: the loader's CPU time per completed
request (utime+stime of the loader process, from wait4's rusage: user and
system separately), requests/s, and the ratio to the reference loader
(wrk for h1 and h1pipe, h2load for h2) of the same round.

    python3 benches/loadgen_cpu.py                       # 5 rounds, 5 s runs
    python3 benches/loadgen_cpu.py --scenarios h1pipe --rounds 3 --duration 3

Scenarios: h1 (keep-alive, 64 connections), h1pipe (16 connections, 16
pipelined requests each: wrk with benches/lua/pipeline.lua), h2 (h2c prior
knowledge, 16 connections x 100 streams; h2load -m 100).

The floor rows run percore-load-floor (load/src/floor): the same work with
nothing but raw epoll or io_uring, canned requests and responses counted
by length, no latency histogram; floor-uring-ms keeps one multishot
receive per connection (the floor sets TCP_NODELAY, as wrk and percore-load
do; `--extra 'floor-x=--driver uring --multishot --fixed'` adds registered
sockets). `--extra 'NAME=ARGS'` adds a row: percore-load's
command (the floor's when NAME starts with "floor") with ARGS appended;
leading VAR=VALUE words of ARGS go to its environment, e.g.
`--extra 'pl-coop=PERCORE_URING_SETUP=coop --driver uring'`; a first word
of ARGS `@PATH` runs the percore-load binary at PATH instead (a saved
build, for a before/after in the same rounds:
`--extra 'before-epoll=@/tmp/percore-load-before --driver epoll'`).
`--loaders a,b` keeps only those rows (the reference always runs).
"""
import argparse, os, re, shlex, signal, socket, statistics, subprocess, sys, time, json

from compare import fmt_spread, free_port, wait_port  # the shared harness helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "benches", "lua")
DEMO = os.path.join(ROOT, "target", "release", "examples", "demo")
LOAD = os.path.join(ROOT, "target", "release", "percore-load")
FLOOR = os.path.join(ROOT, "target", "release", "percore-load-floor")


def loaders(scenario, url, d, extra=(), keep=None):
    """(name, command, parser, env) for each loader of `scenario`; the first is the reference."""
    pl = [LOAD, url, "-d", str(d), "--cores", "1", "--json", "/dev/stdout"]
    fl = [FLOOR, url, "-d", str(d), "--json", "/dev/stdout"]
    if scenario == "h1":
        ref = ("wrk", ["wrk", "-t1", "-c64", f"-d{d}s", url], parse_wrk)
        shape = ["-c", "64"]
    elif scenario == "h1pipe":
        ref = ("wrk", ["wrk", "-t1", "-c16", f"-d{d}s", "-s", f"{LUA}/pipeline.lua", url, "--", "/plaintext", "16"], parse_wrk)
        shape = ["-c", "16", "--pipeline", "16"]
    elif scenario == "h2":
        ref = ("h2load", ["h2load", "-c16", "-m100", "-t1", "-D", str(d), url], parse_h2load)
        shape = ["-c", "16", "--h2", "-m", "100"]
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    rows = [
        ("percore-load-uring", pl + shape + ["--driver", "uring"], parse_percore, {}),
        ("percore-load-epoll", pl + shape + ["--driver", "epoll"], parse_percore, {}),
        ("floor-epoll", fl + shape + ["--driver", "epoll"], parse_percore, {}),
        ("floor-uring", fl + shape + ["--driver", "uring"], parse_percore, {}),
        ("floor-uring-ms", fl + shape + ["--driver", "uring", "--multishot"], parse_percore, {}),
    ]
    for spec in extra:
        name, _, args = spec.partition("=")
        words = shlex.split(args)
        env = {}
        while words and "=" in words[0] and not words[0].startswith("-"):
            k, _, v = words.pop(0).partition("=")
            env[k] = v
        base = fl if name.startswith("floor") else pl
        if words and words[0].startswith("@"):
            base = [words.pop(0)[1:]] + base[1:]
        rows.append((name, base + shape + words, parse_percore, env))
    if keep is not None:
        rows = [r for r in rows if r[0] in keep]
    return [ref + ({},)] + rows


def parse_wrk(out):
    m = re.search(r"(\d+) requests in", out)
    if re.search(r"Non-2xx|Socket errors", out):
        raise RuntimeError("wrk saw errors: " + out)
    return int(m.group(1))


def parse_h2load(out):
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if int(m.group(2)) or int(m.group(3)):
        raise RuntimeError("h2load saw errors: " + out)
    return int(m.group(1))


def parse_percore(out):
    data = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    if data["errors"]:
        raise RuntimeError(f"percore-load saw errors: {data}")
    return data["requests"]


def run_one(cmd, parse, cpu, env=None):
    t0 = time.time()
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, **env) if env else None)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {out[-500:]}")
    reqs = parse(out)
    return {"requests": reqs, "user_us": ru.ru_utime * 1e6 / reqs, "sys_us": ru.ru_stime * 1e6 / reqs,
            "cpu_us": (ru.ru_utime + ru.ru_stime) * 1e6 / reqs, "rps": reqs / wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="h1,h1pipe,h2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--server-driver", default="uring")
    ap.add_argument("--extra", action="append", default=[], help="NAME=ARGS: one more row (see above)")
    ap.add_argument("--loaders", help="comma-separated rows to keep (the reference always runs)")
    opts = ap.parse_args()
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", opts.server_cpu, DEMO, "--listen", f"127.0.0.1:{port}",
                               "--cores", "1", "--driver", opts.server_driver],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        if not wait_port(port):
            raise SystemExit("demo did not start")
        url = f"http://127.0.0.1:{port}/plaintext"
        for r in range(opts.rounds):
            for scenario in opts.scenarios.split(","):
                ref = None
                keep = None
                if opts.loaders:
                    keep = set(opts.loaders.split(",")) | {e.partition("=")[0] for e in opts.extra}
                for name, cmd, parse, env in loaders(scenario, url, opts.duration, opts.extra, keep):
                    res = run_one(cmd, parse, opts.load_cpu, env)
                    if ref is None:
                        ref = res
                    res["ratio"] = res["cpu_us"] / ref["cpu_us"]
                    print(f"round {r + 1} {scenario} {name}: {res['cpu_us']:.2f} µs/req "
                          f"(user {res['user_us']:.2f}, sys {res['sys_us']:.2f}), {res['rps']:.0f} req/s, "
                          f"{res['ratio']:.2f}x", file=sys.stderr, flush=True)
                    results.setdefault((scenario, name), []).append(res)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    print(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: demo --cores 1 --driver {opts.server_driver} "
          f"on CPU {opts.server_cpu}, loaders on CPU {opts.load_cpu}, {opts.duration} s per run, {opts.rounds} rounds "
          f"(interleaved), median (min–max).\n")
    print("Command: `python3 benches/loadgen_cpu.py " + " ".join(sys.argv[1:]) + "`\n")
    print("| scenario | loader | CPU µs / req | user µs | sys µs | req/s | CPU vs reference (same round) |")
    print("|---|---|---|---|---|---|---|")
    for (scenario, name), runs in results.items():
        print(f"| {scenario} | {name} | {fmt_spread([x['cpu_us'] for x in runs], '{:.2f}')} | "
              f"{statistics.median([x['user_us'] for x in runs]):.2f} | {statistics.median([x['sys_us'] for x in runs]):.2f} | "
              f"{fmt_spread([x['rps'] for x in runs], '{:.0f}')} | {fmt_spread([x['ratio'] for x in runs], '{:.2f}')}× |")


if __name__ == "__main__":
    main()
