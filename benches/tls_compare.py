#!/usr/bin/env python3
"""HTTPS side by side, one server core: percore (io_uring, epoll) against
hyper 1 + tokio-rustls (benches/peers hyper-rustls-server) and nginx, in one
run, with the same certificate (made here with openssl in a temp dir).

Each server is pinned to --server-cpus with taskset, the load to --load-cpus;
for every round the servers run one after the other (interleaved), each
started fresh and stopped by PID. The headline is server CPU (utime+stime of
the server process from /proc/PID/stat; nginx: its one worker) per request or
per handshake; rates are reported too, but on a 2-core machine the load
generator often saturates its core first.

Scenarios:
  h1       HTTPS keep-alive HTTP/1.1: wrk -t1 -c64 over https (wrk's OpenSSL,
           no ALPN, one handshake per connection, then keep-alive).
  h1-load  the same with percore-load (rustls, ALPN http/1.1, -c64, no
           pipelining), which loads the server harder than wrk's one thread.
  h1-pipe  percore-load --pipeline 16 -c64 over https: the server's cost per
           request when every read brings many requests.
  h2       h2 over TLS: h2load -c16 -m100 -t1 https:// (ALPN h2).
  full-hs  full handshakes: openssl s_time -new (one connection at a time, a
           new session each, no resumption; GET /plaintext HTTP/1.0, then
           close). TLS 1.3 unless --tls12.
  resumed  resumed handshakes: openssl s_time -reuse (the first connection
           does a full handshake, every later one resumes that session: a
           TLS 1.3 ticket or, with --tls12, a 1.2 ticket/session id; s_time
           prints 'r' per resumed connection and the script checks that).
"Per core" handshake capacity = 1 / server CPU per handshake.

Servers floor-uring and floor-epoll (examples/echo.rs --canned --tls-cert
--tls-key) are the floor under the HTTP servers: percore-tls on the runtime
answering every request head with the same canned response, no HTTP
parsing; they run in the
keep-alive scenarios only (h1, h1-load, h1-pipe). The "busy" column is the
server's CPU time over the wall time: a server far below 100 % is waiting
for its load generator.

    python3 benches/tls_compare.py --rounds 3 --markdown
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import LOAD, REL, PREL, PEERS, ROOT, TICK, cpu_ticks, free_port, log, parse_h2load, sh, stop_server, wait_port

SCENARIOS = ["h1", "h1-load", "h1-pipe", "h2", "full-hs", "resumed"]
# Scenarios the canned floor servers take part in (keep-alive HTTP/1.1).
FLOOR_SCENARIOS = {"h1", "h1-load", "h1-pipe"}

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
user root;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_cache shared:SSL:10m;
        location = /plaintext {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def percore(driver):
    return lambda port, d: [f"{REL}/demo", "--listen", f"127.0.0.1:{port}", "--cores", "1", "--driver", driver,
                            "--tls-cert", f"{d}/cert.pem", "--tls-key", f"{d}/key.pem"]


def floor(driver):
    return lambda port, d: [f"{REL}/echo", "--canned", "--listen", f"127.0.0.1:{port}", "--cores", "1",
                            "--driver", driver, "--tls-cert", f"{d}/cert.pem", "--tls-key", f"{d}/key.pem"]


def hyper_rustls(port, d):
    return [f"{PREL}/hyper-rustls-server", "--listen", f"127.0.0.1:{port}", "--cores", "1",
            "--tls-cert", f"{d}/cert.pem", "--tls-key", f"{d}/key.pem"]


def nginx(port, d):
    conf = f"{d}/nginx-{port}.conf"
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port))
    return ["nginx", "-c", conf, "-p", d]


SERVERS = {
    "percore-uring": percore("uring"),
    "percore-epoll": percore("epoll"),
    "hyper-rustls": hyper_rustls,
    "nginx": nginx,
    "floor-uring": floor("uring"),
    "floor-epoll": floor("epoll"),
}


def measured_pid(name, proc):
    """The process doing the work: nginx's single worker, else the server itself."""
    if name != "nginx":
        return proc.pid
    for _ in range(50):
        try:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("nginx worker not found")


def run_load(scenario, port, opts):
    """Runs the load; returns (count, seconds)."""
    url = f"https://127.0.0.1:{port}/plaintext"
    d = str(opts.duration)
    h2log = None
    if scenario == "h1":
        cmd = ["wrk", "-t1", f"-c{opts.connections}", f"-d{d}s", url]
    elif scenario in ("h1-load", "h1-pipe"):
        cmd = [LOAD, "-k", "-c", str(opts.connections), "-d", d, "--cores", "1", "--json", "/dev/stdout", url]
        if scenario == "h1-pipe":
            cmd[1:1] = ["--pipeline", "16"]
    elif scenario == "h2":
        h2log = f"/tmp/tls-compare-h2load-{port}.log"
        cmd = ["h2load", "-c16", "-m100", "-t1", "-D", d, "--log-file", h2log, url]
    else:
        cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new" if scenario == "full-hs" else "-reuse",
               "-time", d, "-www", "/plaintext"]
        if opts.tls12:
            cmd.append("-tls1_2")
    cmd = ["taskset", "-c", opts.load_cpus] + cmd
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.duration + 60)
    wall = time.time() - t0
    out, err = p.stdout, p.stderr
    if scenario == "h1":
        m = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
        if not m or "Non-2xx" in out:
            raise RuntimeError(f"wrk: {out[-500:]} {err[-300:]}")
        if "Socket errors" in out:
            log("  ", re.search(r"Socket errors.*", out).group(0))
        return int(m.group(1)), float(m.group(2)) * (60 if m.group(3) == "m" else 1)
    if scenario in ("h1-load", "h1-pipe"):
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"percore-load: {out[-300:]} {err[-300:]}")
        data = json.loads(lines[-1])
        if data["errors"]:
            raise RuntimeError(f"percore-load: {data['errors_by_kind']}")
        return data["requests"], data["duration_s"]
    if scenario == "h2":
        n, secs, _, _ = parse_h2load(out, err, h2log)
        return n, secs
    m = re.search(r"(\d+) connections in [\d.]+s;", out)
    if not m:
        raise RuntimeError(f"s_time: {out[-300:]} {err[-300:]}")
    n = int(m.group(1))
    marks = "".join(l for l in out.split(m.group(0))[0].splitlines() if re.fullmatch(r"[*r]+", l))
    if scenario == "resumed":
        # the -reuse part prints one 'r' per resumed connection, '*' per new one
        reused, new = marks.count("r"), marks.count("*")
        if reused < 0.99 * n:
            raise RuntimeError(f"s_time -reuse: only {reused} of {n} connections resumed ({new} new)")
    elif "r" in marks:
        raise RuntimeError("s_time -new resumed a session")
    if p.returncode != 0 or n < 10:
        raise RuntimeError(f"s_time failed: {err[-300:]}")
    return n, wall


def measure(name, scenario, opts, d):
    port = free_port()
    cmd = ["taskset", "-c", opts.server_cpus] + SERVERS[name](port, d)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_port(port):
            raise RuntimeError(f"{name} did not start: {proc.stderr.read(500) if proc.poll() is not None else ''}")
        pid = measured_pid(name, proc)
        # warm-up; also checks the answer and the ALPN choice (the floor
        # servers offer http/1.1 only)
        versions = (("--http1.1", "1.1"),) if name.startswith("floor") else (("--http1.1", "1.1"), ("--http2", "2"))
        for flag, ver in versions:
            r = subprocess.run(["curl", "-sk", flag, "-w", " %{http_version}", f"https://127.0.0.1:{port}/plaintext"],
                               capture_output=True, text=True, timeout=5)
            if r.stdout != f"Hello, World! {ver}":
                raise RuntimeError(f"{name}: unexpected answer {r.stdout!r}")
        t0, w0 = cpu_ticks(pid), time.time()
        n, secs = run_load(scenario, port, opts)
        t1, w1 = cpu_ticks(pid), time.time()
    finally:
        stop_server(proc)
    cpu = (t1 - t0) / TICK
    return {"rate": n / secs, "cpu_us": cpu / max(n, 1) * 1e6, "n": n, "busy": cpu / max(w1 - w0, 0.01)}


def cert(d, kind):
    key = ["-newkey", "rsa:2048"] if kind == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    sh(["openssl", "req", "-x509", *key, "-nodes", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], capture_output=True)


def spread(vals, f):
    return f"{f(statistics.median(vals))} ({f(min(vals))}-{f(max(vals))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--load-cpus", default="1")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (h1)")
    ap.add_argument("--key", choices=["ec", "rsa"], default="ec", help="certificate key: ECDSA P-256 or RSA 2048")
    ap.add_argument("--tls12", action="store_true", help="s_time handshakes over TLS 1.2 instead of 1.3")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    opts = ap.parse_args()
    servers, scenarios = opts.servers.split(","), opts.scenarios.split(",")
    for tool in ("wrk", "h2load", "openssl", "nginx", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install wrk nghttp2-client openssl nginx curl)")
    if not opts.no_build:
        sh(["cargo", "build", "--release", "--example", "demo", "--example", "echo"], cwd=ROOT)
        sh(["cargo", "build", "--release", "-p", "percore-load"], cwd=ROOT)
        sh(["cargo", "build", "--release", "--bin", "hyper-rustls-server"], cwd=PEERS)
    d = tempfile.mkdtemp(prefix="tls-compare-")
    try:
        cert(d, opts.key)
        runs = lambda sc: [s for s in servers if not s.startswith("floor") or sc in FLOOR_SCENARIOS]
        results = {(s, sc): [] for sc in scenarios for s in runs(sc)}
        for r in range(opts.rounds):
            for sc in scenarios:
                for s in runs(sc):
                    res = measure(s, sc, opts, d)
                    log(f"round {r + 1} {sc:8} {s:14} {res['rate']:10.0f}/s {res['cpu_us']:8.2f} us CPU each"
                        f" {res['busy'] * 100:4.0f}% busy")
                    results[(s, sc)].append(res)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    base = "hyper-rustls"
    sep = "|" if opts.markdown else " "
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}, {opts.rounds} rounds, "
          f"{opts.duration}s each, key {opts.key}, server cpu {opts.server_cpus}, load cpu {opts.load_cpus}")
    head = ["scenario", "server", "rate/s median (min-max)", "server CPU us per req/handshake", f"CPU vs {base}",
            "per-core capacity/s (1/CPU)", "server busy"]
    if opts.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(" | ".join(head))
    for sc in scenarios:
        for s in runs(sc):
            rs = results[(s, sc)]
            cpu = [x["cpu_us"] for x in rs]
            b = results.get((base, sc))
            ratio = f"{statistics.median(cpu) / statistics.median([x['cpu_us'] for x in b]):.2f}x" if b else "-"
            row = [sc, s, spread([x["rate"] for x in rs], lambda v: f"{v:.0f}"), spread(cpu, lambda v: f"{v:.2f}"),
                   ratio, f"{1e6 / statistics.median(cpu):.0f}", f"{statistics.median([x['busy'] for x in rs]) * 100:.0f}%"]
            print(("| " + " | ".join(row) + " |") if opts.markdown else " | ".join(row))


if __name__ == "__main__":
    main()
