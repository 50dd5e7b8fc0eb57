#!/usr/bin/env python3
"""Side-by-side benchmark of percore against tokio stacks, in one run.

Builds every server, then for each scenario and round runs the servers one
after the other (interleaved), each pinned to the server CPUs with `taskset`,
loaded from the load CPUs, stopped by PID. Reports per scenario and server the
median and spread (min-max) over rounds of: requests (or messages) per
second, p50/p99 latency, server CPU-seconds per 100k requests (utime+stime of
the server process from /proc, the headline on a 2-core machine where the
load generator saturates its core first), peak RSS, and ratios to hyper.

    python3 benches/compare.py                      # everything, defaults fit 2 cores
    python3 benches/compare.py --scenarios plaintext,pipelined --rounds 3 --markdown
    python3 benches/compare.py --load percore        # HTTP scenarios loaded by percore-load

`--load percore` runs the HTTP/1.1 and h2c scenarios (plaintext, json,
pipelined, echo4k, h2c) with percore-load instead of wrk and h2load, with
the same connections, depth and streams: it uses less CPU per request than
either (BENCHMARKS.md, "Load generator CPU"), so a 2-core comparison is
less bound by the load generator. Its latency figures are per response,
pipelined ones included.
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "benches", "peers")
REL = os.path.join(ROOT, "target", "release", "examples")
PREL = os.path.join(PEERS, "target", "release")
LOAD = os.path.join(ROOT, "target", "release", "percore-load")
LUA = os.path.join(ROOT, "benches", "lua")
TICK = os.sysconf("SC_CLK_TCK")

HTTP_SCENARIOS = ["plaintext", "pipelined", "json", "echo4k"]
H2 = ["h2c"]
WS = ["ws-echo", "ws-echo-1m"]
IDLE = ["idle-10k", "idle-50k"]
IDLE_COUNTS = {"idle-10k": 10_000, "idle-50k": 50_000}
ALL_SCENARIOS = HTTP_SCENARIOS + H2 + WS + IDLE + ["tcp-echo"]


def example(name, driver, *extra):
    return lambda a, n: [f"{REL}/{name}", "--listen", a, "--cores", str(n), "--driver", driver, *extra]


def peer(binary, *extra):
    return lambda a, n: [f"{PREL}/{binary}", "--listen", a, "--cores", str(n), *extra]


EVERYTHING = HTTP_SCENARIOS + H2 + WS + IDLE


SERVERS = {
    # name: (command builder, scenarios it serves)
    "percore-uring": (example("demo", "uring"), EVERYTHING),
    "percore-epoll": (example("demo", "epoll"), EVERYTHING),
    "hyper": (peer("hyper-server"), EVERYTHING),
    "hyper-mt": (peer("hyper-server", "--multi-thread"), EVERYTHING),
    "axum": (peer("axum-server"), EVERYTHING),
    "actix-web": (peer("actix-server"), EVERYTHING),
    "may-minihttp": (peer("may-minihttp-server"), HTTP_SCENARIOS + IDLE),
    # The floor: same runtime, a fixed response per request head, no parsing.
    "percore-canned": (example("echo", "uring", "--canned"), ["plaintext", "pipelined"]),
    "percore-echo-uring": (example("echo", "uring"), ["tcp-echo"]),
    "percore-echo-epoll": (example("echo", "epoll"), ["tcp-echo"]),
    "tokio-echo": (peer("tokio-echo"), ["tcp-echo"]),
}
BASELINE = {"tcp-echo": "tokio-echo"}  # others: "hyper" (tokio-tungstenite on hyper for ws-*)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    log("+", " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools():
    missing = [p for t, p in (("wrk", "wrk"), ("h2load", "nghttp2-client")) if not shutil.which(t)]
    if missing:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq"] + missing)


def build(opts):
    sh(["cargo", "build", "--release", "--example", "demo", "--example", "echo"], cwd=ROOT)
    if opts.load == "percore":
        sh(["cargo", "build", "--release", "-p", "percore-load"], cwd=ROOT)
    sh(["cargo", "build", "--release"], cwd=PEERS)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (all threads)


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)", f.read())
    return int(m.group(1)) if m else 0


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_duration_us(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def run_load(scenario, port, opts):
    """Runs the load generator; returns (requests, seconds, p50_us, p99_us, load_cpu_fraction)."""
    url = f"http://127.0.0.1:{port}"
    d = str(opts.duration)
    c = str(opts.connections)
    h2log = None
    if scenario == "tcp-echo":
        cmd = [f"{PREL}/loadgen", "tcp-echo", "--addr", f"127.0.0.1:{port}", "--conns", "64", "--size", "64", "--duration", d, "--engine", opts.loadgen]
    elif scenario == "ws-echo":
        cmd = [f"{PREL}/loadgen", "ws-echo", "--addr", f"127.0.0.1:{port}", "--conns", "64", "--size", "32", "--duration", d, "--engine", opts.loadgen]
    elif scenario == "ws-echo-1m":
        cmd = [f"{PREL}/loadgen", "ws-echo", "--addr", f"127.0.0.1:{port}", "--conns", "8", "--size", str(1 << 20), "--duration", d, "--engine", opts.loadgen]
    elif opts.load == "percore" and scenario in HTTP_SCENARIOS + H2:
        return run_percore_load(scenario, url, opts)
    elif scenario == "h2c":
        h2log = f"/tmp/compare-h2load-{port}.log"
        cmd = ["h2load", "-c", "16", "-m", "100", "-t", "1", "-D", d, "--log-file", h2log, f"{url}/plaintext"]
    else:
        base = ["wrk", "-t1", f"-c{c}", f"-d{d}s", "--latency"]
        cmd = {
            "plaintext": base + [f"{url}/plaintext"],
            "json": base + [f"{url}/json"],
            "pipelined": base + ["-s", f"{LUA}/pipeline.lua", f"{url}/plaintext", "--", "/plaintext", "16"],
            "echo4k": base + ["-s", f"{LUA}/post4k.lua", f"{url}/echo"],
        }[scenario]
    cmd = ["taskset", "-c", opts.load_cpus] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    ticks0 = None
    time.sleep(0.2)
    try:
        ticks0 = cpu_ticks(p.pid)
    except OSError:
        pass
    ticks1, last = ticks0, time.time()
    while p.poll() is None:
        try:
            ticks1, last = cpu_ticks(p.pid), time.time()
        except OSError:
            break
        time.sleep(0.2)
    out, err = p.communicate()
    elapsed = time.time() - t0
    load_cpu = ((ticks1 - ticks0) / TICK) / max(last - t0 - 0.2, 0.01) if ticks0 is not None else 0.0
    if scenario in ("tcp-echo", "ws-echo", "ws-echo-1m"):
        if p.returncode != 0:
            raise RuntimeError(f"loadgen failed: {err.strip()[-300:]}")
        data = json.loads(out.strip().splitlines()[-1])
        return data["messages"], opts.duration, data["p50_us"], data["p99_us"], load_cpu
    if scenario == "h2c":
        return parse_h2load(out, err, h2log) + (load_cpu,)
    m = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if not m:
        raise RuntimeError(f"wrk output not understood: {out} {err}")
    reqs = int(m.group(1))
    if scenario == "pipelined":
        # wrk counts every pipelined response but times only the first of each
        # batch (its distribution shows zeros): no latency figures here.
        return reqs, float(m.group(2)) * (60 if m.group(3) == "m" else 1), None, None, load_cpu
    secs = float(m.group(2)) * (60 if m.group(3) == "m" else 1)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} non-2xx responses")
    if errs:
        log("  socket errors:", errs.group(1))
    return reqs, secs, parse_duration_us(p50.group(1)) if p50 else None, parse_duration_us(p99.group(1)) if p99 else None, load_cpu


def percore_load_cmd(scenario, url, opts):
    """percore-load's command for an HTTP scenario: the same shape as wrk's or h2load's."""
    base = [LOAD, "-d", str(opts.duration), "--cores", "1", "--json", "/dev/stdout"]
    return {
        "plaintext": base + ["-c", str(opts.connections), f"{url}/plaintext"],
        "json": base + ["-c", str(opts.connections), f"{url}/json"],
        "pipelined": base + ["-c", str(opts.connections), "--pipeline", "16", f"{url}/plaintext"],
        "echo4k": base + ["-c", str(opts.connections), "-X", "POST", "-b", "x" * 4096,
                          "-H", "content-type: application/octet-stream", f"{url}/echo"],
        "h2c": base + ["-c", "16", "--h2", "-m", "100", f"{url}/plaintext"],
    }[scenario]


def run_percore_load(scenario, url, opts):
    """Runs percore-load; returns (requests, seconds, p50_us, p99_us, load_cpu_fraction)."""
    cmd = ["taskset", "-c", opts.load_cpus] + percore_load_cmd(scenario, url, opts)
    before = children_cpu_s()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    load_cpu_s = children_cpu_s() - before  # only this child was reaped in between
    if p.returncode != 0:
        raise RuntimeError(f"percore-load failed: {err.strip()[-300:]}")
    data = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    if data["errors"]:
        raise RuntimeError(f"percore-load: {data['errors_by_kind']}")
    secs = data["duration_s"]
    lat = data["latency_ms"]
    return data["requests"], secs, lat["p50"] * 1000, lat["p99"] * 1000, load_cpu_s / max(secs, 0.01)


def children_cpu_s():
    """utime + stime of every child reaped so far."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def parse_h2load(out, err, log_path):
    """(requests, seconds, p50_us, p99_us) from h2load's summary and its per-request log."""
    m = re.search(r"finished in ([\d.]+)s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not m or not done:
        raise RuntimeError(f"h2load output not understood: {out[-500:]} {err[-300:]}")
    if int(done.group(3)) or int(done.group(4)):
        raise RuntimeError(f"h2load: {done.group(3)} failed, {done.group(4)} errored")
    lat = []
    try:
        with open(log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
        os.unlink(log_path)
    except OSError:
        pass
    lat.sort()
    pct = lambda q: lat[min(int(len(lat) * q), len(lat) - 1)] if lat else None
    return int(done.group(2)), float(m.group(1)), pct(0.50), pct(0.99)


def current_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmRSS:\s+(\d+)", f.read())
    return int(m.group(1)) if m else 0


def raise_nofile():
    """Children inherit the raised soft limit (up to the hard limit)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure_idle(server, scenario, opts):
    """Opens N keep-alive connections (one request each) and reports the server's RSS per connection."""
    import resource
    want = IDLE_COUNTS[scenario]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and want + 64 > hard:
        raise RuntimeError(f"RLIMIT_NOFILE hard limit {hard} < {want} connections on this machine")
    port = free_port()
    cmd = ["taskset", "-c", opts.server_cpus] + SERVERS[server][0](f"127.0.0.1:{port}", opts.server_cores)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_nofile)
    try:
        if not wait_port(port):
            raise RuntimeError("server did not start")
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/plaintext"], timeout=5)
        time.sleep(0.2)
        before = current_rss_kib(proc.pid)
        load = subprocess.Popen(
            ["taskset", "-c", opts.load_cpus, f"{PREL}/loadgen", "idle", "--addr", f"127.0.0.1:{port}", "--conns", str(want), "--hold", "60"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=raise_nofile)
        line = load.stdout.readline()
        time.sleep(0.5)
        after = current_rss_kib(proc.pid)
        load.stdin.close()
        load.wait(timeout=30)
        data = json.loads(line) if line.strip() else {"open": 0, "failed": want}
        if data["open"] == 0:
            raise RuntimeError(f"no connection opened: {load.stderr.read()[-300:]}")
    finally:
        stop_server(proc)
    return {
        "open": data["open"],
        "failed": data["failed"],
        "rss_kib": after,
        "kib_per_conn": (after - before) / data["open"],
    }


def stop_server(proc):
    """Stops a server by its PID: SIGTERM, then SIGKILL after 5 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(server, scenario, opts):
    if scenario in IDLE_COUNTS:
        return measure_idle(server, scenario, opts)
    port = free_port()
    cmd = ["taskset", "-c", opts.server_cpus] + SERVERS[server][0](f"127.0.0.1:{port}", opts.server_cores)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_port(port):
            raise RuntimeError("server did not start")
        # warm-up
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/plaintext"], timeout=5)
        t0 = cpu_ticks(proc.pid)
        reqs, secs, p50, p99, load_cpu = run_load(scenario, port, opts)
        t1 = cpu_ticks(proc.pid)
        rss = peak_rss_kib(proc.pid)
    finally:
        stop_server(proc)
    cpu_s = (t1 - t0) / TICK
    return {
        "rate": reqs / secs,
        "p50_us": p50,
        "p99_us": p99,
        "cpu_s_per_100k": cpu_s / max(reqs, 1) * 100_000,
        "rss_kib": rss,
        "load_saturated": load_cpu >= 0.95,
    }


def fmt_spread(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--load-cpus", default="1")
    ap.add_argument("--server-cores", type=int, default=1)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--loadgen", choices=["uring", "tokio"], default="uring",
                    help="engine of loadgen for tcp-echo and ws-*: a lean raw io_uring client (default) or tokio/tokio-tungstenite")
    ap.add_argument("--load", choices=["wrk", "percore"], default="wrk",
                    help="load generator of the HTTP/1.1 and h2c scenarios: wrk and h2load (default) or percore-load")
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--chart", metavar="FILE.svg",
                    help="also draw the ratios to --chart-base per scenario, with the spread across rounds (needs matplotlib)")
    ap.add_argument("--chart-base", default="hyper", help="baseline server of the chart (default hyper)")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: table and chart from the results a run saved with --json")
    opts = ap.parse_args()
    if opts.from_json:
        results, scenarios, servers = load_results(opts.from_json)
        print_table(results, scenarios, servers, opts)
        draw_chart(results, scenarios, servers, opts)
        return
    ensure_tools()
    if not opts.no_build:
        build(opts)
    servers = opts.servers.split(",")
    scenarios = opts.scenarios.split(",")
    results = {}  # (scenario, server) -> list of runs
    for r in range(opts.rounds):
        for scenario in scenarios:
            for server in servers:
                if scenario not in SERVERS[server][1]:
                    continue
                log(f"round {r + 1}/{opts.rounds}: {scenario} on {server}")
                try:
                    res = measure(server, scenario, opts)
                except Exception as e:  # a failing server is reported, never fatal
                    res = {"error": str(e)}
                    log("  n/a:", e)
                results.setdefault((scenario, server), []).append(res)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1)
    print_table(results, scenarios, servers, opts)
    draw_chart(results, scenarios, servers, opts)


def load_results(path):
    """The results a run saved with --json, with its scenarios and servers
    in the order they first appear."""
    with open(path) as f:
        saved = json.load(f)
    results, scenarios, servers = {}, [], []
    for key, runs in saved.items():
        scenario, server = key.split("/", 1)
        results[(scenario, server)] = runs
        scenarios += [scenario] if scenario not in scenarios else []
        servers += [server] if server not in servers else []
    return results, scenarios, servers


def draw_chart(results, scenarios, servers, opts):
    if not opts.chart:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare_chart import write_chart
    title = f"ratio to {opts.chart_base}, median of per-round ratios, whiskers min–max ({time.strftime('%Y-%m-%d', time.gmtime())})"
    bars = write_chart(opts.chart, results, scenarios, servers, base=opts.chart_base,
                       title=title, idle=tuple(IDLE_COUNTS))
    log(f"chart: {bars} bars in {opts.chart}")


def print_table(results, scenarios, servers, opts):
    md = opts.markdown
    if md:
        print(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs, kernel {os.uname().release}; "
              f"server on CPU {opts.server_cpus} ({opts.server_cores} core), load on CPU {opts.load_cpus}, "
              f"{opts.duration} s per run, {opts.rounds} rounds, median (min–max).\n")
        print("Command: `python3 benches/compare.py " + " ".join(sys.argv[1:]) + "`\n")
        if opts.load == "percore":
            print("HTTP scenarios loaded by percore-load (`--load percore`), not wrk/h2load.\n")
        print("`*`: the load generator used ≥95% of its core, so the rate is the load generator's ceiling; compare CPU per 100k there.\n")
        print("| scenario | server | req/s | p50 | p99 | CPU-s / 100k req | peak RSS | req/s vs base | CPU vs base |")
        print("|---|---|---|---|---|---|---|---|---|")
    for scenario in scenarios:
        if scenario in IDLE_COUNTS:
            continue
        base_name = BASELINE.get(scenario, "hyper")
        base = [x for x in results.get((scenario, base_name), []) if "error" not in x]
        base_rate = statistics.median([x["rate"] for x in base]) if base else None
        base_cpu = statistics.median([x["cpu_s_per_100k"] for x in base]) if base else None
        for server, runs, ok in measured(results, scenario, servers):
            if not ok:
                row = [scenario, server, "n/a: " + runs[0]["error"], "", "", "", "", "", ""]
            else:
                rate = statistics.median([x["rate"] for x in ok])
                cpu = statistics.median([x["cpu_s_per_100k"] for x in ok])
                star = "*" if any(x["load_saturated"] for x in ok) else ""
                row = [
                    scenario, server,
                    fmt_spread([x["rate"] for x in ok], "{:.0f}") + star,
                    fmt_spread([x["p50_us"] for x in ok], "{:.0f}µs"),
                    fmt_spread([x["p99_us"] for x in ok], "{:.0f}µs"),
                    fmt_spread([x["cpu_s_per_100k"] for x in ok], "{:.2f}"),
                    f"{statistics.median([x['rss_kib'] for x in ok]) / 1024:.1f} MiB",
                    f"{rate / base_rate:.2f}×" if base_rate else "-",
                    f"{cpu / base_cpu:.2f}×" if base_cpu else "-",
                ]
            emit(row, md)
    print_idle_table(results, [s for s in scenarios if s in IDLE_COUNTS], servers, md)


def measured(results, scenario, servers):
    """(server, all runs, successful runs) for each server that ran `scenario`."""
    for server in servers:
        runs = results.get((scenario, server))
        if runs:
            yield server, runs, [x for x in runs if "error" not in x]


def emit(row, md):
    if md:
        print("| " + " | ".join(row) + " |")
    else:
        print("  ".join(f"{c:>14}" for c in row))


def print_idle_table(results, scenarios, servers, md):
    if not scenarios:
        return
    print()
    if md:
        print("Idle keep-alive connections (one request each, then held): server RSS growth per connection.\n")
        print("| scenario | server | open | RSS | KiB / connection | vs hyper |")
        print("|---|---|---|---|---|---|")
    for scenario in scenarios:
        base = [x for x in results.get((scenario, "hyper"), []) if "error" not in x]
        base_kib = statistics.median([x["kib_per_conn"] for x in base]) if base else None
        for server, runs, ok in measured(results, scenario, servers):
            if not ok:
                emit([scenario, server, "n/a: " + runs[0]["error"], "", "", ""], md)
                continue
            kib = statistics.median([x["kib_per_conn"] for x in ok])
            emit([
                scenario, server,
                f"{min(x['open'] for x in ok)}" + (f" ({max(x['failed'] for x in ok)} failed)" if any(x["failed"] for x in ok) else ""),
                f"{statistics.median([x['rss_kib'] for x in ok]) / 1024:.1f} MiB",
                fmt_spread([x["kib_per_conn"] for x in ok], "{:.1f}"),
                f"{kib / base_kib:.2f}×" if base_kib else "-",
            ], md)


if __name__ == "__main__":
    main()
