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

`--lock /tmp/cargo.lock,/tmp/bench.lock` makes one long interleaved run
possible on a machine shared with builds: each single measurement (one
server, one scenario, one round: start, load, stop) holds those flock locks,
taken in that order and released right after, so nothing that takes them
(`flock /tmp/cargo.lock cargo build`) runs during a measurement and builds go
on between measurements. The first lock also guards compare.py's own builds.
With `--lock-hold SECONDS` the locks are kept across consecutive
measurements while they have been held for less than SECONDS (a measurement
is never started if it would end past that), then released and taken again:
on a busy machine every take can wait minutes behind other builds, so
releasing after each of a few hundred measurements can stretch a 20-minute
run into hours.

The output records what was measured: the commit (and the last commit that
touched anything outside benches/ and the *.md files, i.e. the product the
binaries were built from), the date, the machine and the command line.
"""
import argparse, fcntl, json, os, platform, re, shutil, signal, socket, statistics, subprocess, sys, time
from contextlib import contextmanager

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
    # The floor under any server: one thread, a plain epoll loop, pre-encoded
    # responses, WebSocket frames unmasked and echoed (benches/peers canned-server).
    "canned-epoll": (peer("canned-server"), ["plaintext", "pipelined", "ws-echo"] + IDLE),
    "percore-echo-uring": (example("echo", "uring"), ["tcp-echo"]),
    "percore-echo-epoll": (example("echo", "epoll"), ["tcp-echo"]),
    "tokio-echo": (peer("tokio-echo"), ["tcp-echo"]),
}
BASELINE = {"tcp-echo": "tokio-echo"}  # others: "hyper" (tokio-tungstenite on hyper for ws-*)
# The summary table shows the tcp-echo servers in these servers' columns.
SUMMARY_COLUMN = {"percore-echo-uring": "percore-uring", "percore-echo-epoll": "percore-epoll", "tokio-echo": "hyper"}


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
    with held(opts.locks[:1]):
        sh(["cargo", "build", "--release", "--example", "demo", "--example", "echo"], cwd=ROOT)
        if opts.load == "percore":
            sh(["cargo", "build", "--release", "-p", "percore-load"], cwd=ROOT)
        sh(["cargo", "build", "--release"], cwd=PEERS)


@contextmanager
def held(paths):
    """Holds exclusive flock locks on `paths`, taken in order, released in
    reverse order on exit. Yields the seconds spent waiting for them."""
    files = []
    t0 = time.time()
    try:
        for path in paths:
            f = open(path, "a")
            files.append(f)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield time.time() - t0
    finally:
        for f in reversed(files):
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


YIELD_S = 2.0  # pause after releasing the --lock locks, so waiting builds get them


class Locks:
    """The --lock files, held for one measurement at a time, or for a block
    of consecutive measurements of at most `hold` seconds."""

    def __init__(self, paths, hold):
        self.paths, self.hold = paths, hold
        self.ctx, self.since, self.waited, self.takes = None, 0.0, 0.0, 0

    def before(self, expected_s):
        """Called before a measurement expected to take `expected_s`."""
        if self.ctx and time.time() - self.since + expected_s > self.hold:
            self.release()
        if self.paths and not self.ctx:
            self.ctx = held(self.paths)
            wait = self.ctx.__enter__()
            self.waited += wait
            self.takes += 1
            self.since = time.time()
            log(f"  locks taken after {wait:.0f} s")

    def after(self):
        if self.hold <= 0:
            self.release()

    def release(self):
        if self.ctx:
            self.ctx.__exit__(None, None, None)
            self.ctx = None
            # flock is not a queue: taking the locks again at once would beat
            # the builds that were waiting for them. Give them time to start.
            time.sleep(YIELD_S)


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run_metadata(opts):
    """What was measured, where and when (saved with --json, printed with --markdown)."""
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1).strip() if m else None
    except OSError:
        pass
    # Uncommitted changes to what the binaries are built from (not the scripts).
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benches", ":(exclude)*.md")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "product_commit": git("log", "-1", "--format=%h", "--", ".", ":(exclude)benches", ":(exclude)*.md"),
        "dirty": bool(dirty),
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs ({cpu or platform.machine()}), Linux {os.uname().release}",
        "command": "python3 benches/compare.py " + " ".join(sys.argv[1:]),
        "server_cpus": opts.server_cpus, "server_cores": opts.server_cores, "load_cpus": opts.load_cpus,
        "duration_s": opts.duration, "rounds": opts.rounds, "load": opts.load, "locks": opts.locks,
        "lock_hold_s": opts.lock_hold,
    }


def cpu_ticks_split(pid):
    """(utime, stime) of `pid`, all threads, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_ticks(pid):
    return sum(cpu_ticks_split(pid))  # utime + stime (all threads)


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


# Server ports come from a range below the kernel's ephemeral range
# (32768-60999 here), one new port per server start: the idle scenarios
# leave tens of thousands of ephemeral ports in TIME_WAIT, and a bind to
# port 0 then fails with EADDRINUSE until they expire.
PORT_RANGE = (int(os.environ.get("COMPARE_PORT_BASE", "21000")), 32000)
_next_port = [PORT_RANGE[0]]


def free_port():
    """The next port of PORT_RANGE that nothing is bound to."""
    for _ in range(PORT_RANGE[1] - PORT_RANGE[0]):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < PORT_RANGE[1] else PORT_RANGE[0]
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError(f"no free port in {PORT_RANGE}")


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
    ap.add_argument("--lock", metavar="PATH[,PATH...]", default="",
                    help="flock these files, in this order, around each single measurement (one server, "
                         "scenario and round) and release them between measurements, e.g. "
                         "/tmp/cargo.lock,/tmp/bench.lock; the first also guards the builds")
    ap.add_argument("--lock-hold", type=float, default=0, metavar="SECONDS",
                    help="keep the --lock locks across measurements for up to SECONDS before releasing "
                         "them (default 0: release after every measurement)")
    opts = ap.parse_args()
    opts.locks = [p for p in opts.lock.split(",") if p]
    if opts.from_json:
        results, scenarios, servers, meta = load_results(opts.from_json)
        print_table(results, scenarios, servers, opts, meta)
        draw_chart(results, scenarios, servers, opts, meta)
        return
    ensure_tools()
    if not opts.no_build:
        build(opts)
    servers = opts.servers.split(",")
    scenarios = opts.scenarios.split(",")
    unknown = [s for s in servers if s not in SERVERS] + [s for s in scenarios if s not in ALL_SCENARIOS]
    if unknown:
        ap.error(f"unknown server or scenario: {', '.join(unknown)}")
    meta = run_metadata(opts)
    t_start = time.time()
    locks = Locks(opts.locks, opts.lock_hold)
    results = {}  # (scenario, server) -> list of runs
    try:
        for r in range(opts.rounds):
            for scenario in scenarios:
                for server in servers:
                    if scenario not in SERVERS[server][1]:
                        continue
                    log(f"round {r + 1}/{opts.rounds}: {scenario} on {server}")
                    locks.before(opts.duration + 5)
                    try:
                        res = measure(server, scenario, opts)
                    except Exception as e:  # a failing server is reported, never fatal
                        res = {"error": str(e)}
                        log("  n/a:", e)
                    locks.after()
                    results.setdefault((scenario, server), []).append(res)
                    # Saved as it goes: a run stopped half-way keeps its rounds.
                    save_json(opts, meta, results, locks, t_start)
    finally:
        locks.release()
    save_json(opts, meta, results, locks, t_start)
    print_table(results, scenarios, servers, opts, meta)
    draw_chart(results, scenarios, servers, opts, meta)


def save_json(opts, meta, results, locks, t_start):
    meta["finished_utc"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta["wall_s"] = round(time.time() - t_start)
    meta["lock_wait_s"] = round(locks.waited)
    meta["lock_takes"] = locks.takes
    if opts.json:
        with open(opts.json + ".tmp", "w") as f:
            saved = {"_meta": meta}
            saved.update({f"{k[0]}/{k[1]}": v for k, v in results.items()})
            json.dump(saved, f, indent=1)
        os.replace(opts.json + ".tmp", opts.json)


def load_results(path):
    """The results a run saved with --json, with its scenarios and servers
    in the order they first appear, and its metadata (None for runs saved
    before it was recorded)."""
    with open(path) as f:
        saved = json.load(f)
    meta = saved.pop("_meta", None)
    results, scenarios, servers = {}, [], []
    for key, runs in saved.items():
        scenario, server = key.split("/", 1)
        results[(scenario, server)] = runs
        scenarios += [scenario] if scenario not in scenarios else []
        servers += [server] if server not in servers else []
    return results, scenarios, servers, meta


def draw_chart(results, scenarios, servers, opts, meta=None):
    if not opts.chart:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare_chart import write_chart
    when = meta["started_utc"][:10] if meta else time.strftime('%Y-%m-%d', time.gmtime())
    commit = f", percore {meta['product_commit']}" if meta and meta.get("product_commit") else ""
    base = f"{opts.chart_base} (tcp-echo: tokio-echo)" if opts.chart_base == "hyper" else opts.chart_base
    title = f"ratio to {base}\nmedian of per-round ratios, whiskers min–max ({when}{commit})"
    bars = write_chart(opts.chart, results, scenarios, servers, base=opts.chart_base,
                       title=title, idle=tuple(IDLE_COUNTS), bases=BASELINE if opts.chart_base == "hyper" else None)
    log(f"chart: {bars} bars in {opts.chart}")


def print_table(results, scenarios, servers, opts, meta=None):
    md = opts.markdown
    if md and meta:
        dirty = " plus uncommitted changes" if meta["dirty"] else ""
        print(f"Run {meta['started_utc']} – {meta.get('finished_utc', '?')[11:]} on {meta['machine']}; "
              f"server on CPU {meta['server_cpus']} ({meta['server_cores']} core), load on CPU {meta['load_cpus']}, "
              f"{meta['duration_s']} s per run, {meta['rounds']} rounds interleaved, median (min–max).\n")
        print(f"Commit `{meta['commit']}`{dirty}; percore's code (all but benches/ and *.md) as of `{meta['product_commit']}`. "
              f"Wall time {meta.get('wall_s', 0) / 60:.0f} min, of which {meta.get('lock_wait_s', 0) / 60:.0f} min waiting for the locks.\n")
        print(f"Command: `{meta['command']}`\n")
    elif md:
        print(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs, kernel {os.uname().release}; "
              f"server on CPU {opts.server_cpus} ({opts.server_cores} core), load on CPU {opts.load_cpus}, "
              f"{opts.duration} s per run, {opts.rounds} rounds, median (min–max).\n")
        print("Command: `python3 benches/compare.py " + " ".join(sys.argv[1:]) + "`\n")
    if md:
        if (meta or {}).get("load", opts.load) == "percore":
            print("HTTP scenarios loaded by percore-load (`--load percore`), not wrk/h2load.\n")
        print_summary(results, scenarios, servers)
        print("All figures of the run:\n")
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


def print_summary(results, scenarios, servers):
    """The one table: a row per scenario and figure, a column per server,
    each cell the median of the per-round ratios to the scenario's baseline
    (the baseline's own column gives its absolute median)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare_chart import round_ratios
    shown = []
    for s in servers:
        col = SUMMARY_COLUMN.get(s, s)
        if col not in shown and any((sc, s) in results for sc in scenarios):
            shown.append(col)
    print("Each cell: the server's figure over the baseline's, median of the per-round ratios (every round ran all "
          "servers side by side); the baseline's column gives its own median. Lower is better for CPU and KiB, "
          "higher for rate. `*`: the load generator saturated its core in some round, so the rate is its ceiling; "
          "read the CPU row there. Blank: the server does not serve that scenario. tcp-echo: percore's echo example "
          "in the percore columns against tokio current_thread (`tokio-echo`) in hyper's. Idle rows: each server's own "
          "RSS growth per idle keep-alive connection.\n")
    print("| scenario | figure | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    rows = []
    for scenario in scenarios:
        if scenario in IDLE_COUNTS:
            rows.append((scenario, "KiB / idle connection", "kib_per_conn", "{:.1f} KiB"))
        else:
            unit = "msg" if scenario.startswith(("ws-", "tcp-")) else "req"
            rows.append((scenario, f"{unit}/s", "rate", "{:,.0f}/s"))
            rows.append((scenario, f"server CPU / {unit}", "cpu_s_per_100k", "{:.2f} CPU-s/100k"))
    for scenario, figure, key, absolute in rows:
        base = BASELINE.get(scenario, "hyper")
        base_runs = results.get((scenario, base), [])
        if not any("error" not in x for x in base_runs):
            continue
        cells = []
        for column in shown:
            server = next((s for s, c in SUMMARY_COLUMN.items() if c == column and (scenario, s) in results), column)
            runs = results.get((scenario, server))
            ok = [x for x in runs or [] if "error" not in x]
            if not runs:
                cells.append("")
            elif not ok:
                cells.append("n/a")
            elif server == base or key == "kib_per_conn":  # idle rows: every server's own KiB
                cells.append(absolute.format(statistics.median([x[key] for x in ok])))
            else:
                ratios = round_ratios(runs, base_runs, key)
                star = "*" if key == "rate" and any(x.get("load_saturated") for x in ok) else ""
                cells.append(f"{statistics.median(ratios):.2f}×{star}" if ratios else "n/a")
        print(f"| {scenario} | {figure} | " + " | ".join(cells) + " |")
    print()


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
