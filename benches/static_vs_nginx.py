#!/usr/bin/env python3
"""Static files from one core: percore's demo (`--static DIR`, both
drivers) against Debian's nginx (one worker, sendfile on) serving the same
files, interleaved rounds; requests/s and server CPU per byte served.

    python3 benches/static_vs_nginx.py [ROUNDS] [SECONDS] [CONNECTIONS]
    (defaults 3 rounds, 5 s, 16 connections; needs a release build:
     cargo build --release --example demo)

Every server runs pinned to CPU 0 (`taskset -c 0`; nginx also with
`worker_cpu_affinity 1`), wrk runs on CPU 1 (`-t1`). CPU is utime+stime
from /proc/PID/stat of the serving process (nginx: its worker) before and
after the load. Files: 4 KiB and 1 MiB of random bytes (`.bin`,
application/octet-stream for both), made fresh in a temporary directory.
Ports come from STATIC_BENCH_PORT (default 18740) upward.

Also reported: how busy the server and wrk were (CPU time over the run's
seconds, % of one CPU): the side near 100 % sets the rate; when neither
is, the rate is set by the machine (other work on the two CPUs).
"""
import os, re, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "target", "release", "examples", "demo")
TICK = os.sysconf("SC_CLK_TCK")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECONDS = sys.argv[2] if len(sys.argv) > 2 else "5"
CONNS = sys.argv[3] if len(sys.argv) > 3 else "16"
PORT = int(os.environ.get("STATIC_BENCH_PORT", "18740"))
FILES = {"4k.bin": 4096, "1m.bin": 1 << 20}


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


def nginx(root, port, work):
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
worker_cpu_affinity 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    types {{ application/octet-stream bin; }}
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location /static/ {{ alias {root}/; }}
    }}
}}
""")
    master = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", conf],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    worker = None
    for _ in range(100):
        kids = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
        if kids:
            worker = int(kids[0])
            break
        time.sleep(0.05)
    return master, worker


def demo(root, port, driver):
    p = subprocess.Popen(["taskset", "-c", "0", DEMO, "--listen", f"127.0.0.1:{port}", "--cores", "1",
                          "--driver", driver, "--static", root],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, p.pid


def children_cpu_s():
    """utime+stime of this script's finished children (wrk), seconds."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load(port, name):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNS}", f"-d{SECONDS}s",
                          f"http://127.0.0.1:{port}/static/{name}"], capture_output=True, text=True).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw errors: {out}")
    return reqs


def main():
    work = tempfile.mkdtemp(prefix="percore-static-bench-")
    os.chmod(work, 0o755)  # nginx's worker runs as nobody
    root = os.path.join(work, "files")
    os.makedirs(root)
    for name, size in FILES.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    servers = ["nginx", "percore-uring", "percore-epoll"]
    results = {}  # (server, file) -> [(rps, ns_per_byte)]
    port = PORT
    try:
        for r in range(ROUNDS):
            for name, size in FILES.items():
                for server in servers:
                    port += 1
                    if server == "nginx":
                        proc, pid = nginx(root, port, work)
                    else:
                        proc, pid = demo(root, port, server.split("-")[1])
                    try:
                        # Warm the page cache and the server.
                        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/static/{name}"], check=True)
                        before = cpu_ticks(pid)
                        wrk_before = children_cpu_s()
                        reqs = load(port, name)
                        wrk_cpu = children_cpu_s() - wrk_before
                        after = cpu_ticks(pid)
                    finally:
                        proc.send_signal(signal.SIGKILL if server != "nginx" else signal.SIGQUIT)
                        try:
                            proc.wait(timeout=5)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                        if server == "nginx" and pid:
                            try:
                                os.kill(pid, signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                    cpu_ns = (after - before) * 1e9 / TICK
                    rps = reqs / float(SECONDS)
                    per_byte = cpu_ns / (reqs * size)
                    # How busy each side was: a side near 100 % of its one
                    # CPU is what sets the rate.
                    server_busy = cpu_ns / 1e9 / float(SECONDS) * 100
                    wrk_busy = wrk_cpu / float(SECONDS) * 100
                    results.setdefault((server, name), []).append((rps, per_byte, server_busy, wrk_busy))
                    print(f"round {r + 1} {name:7} {server:14} {rps:9.0f} req/s  {per_byte:7.3f} ns CPU/byte "
                          f"({cpu_ns / reqs / 1000:.1f} us/request; server {server_busy:3.0f} % of a CPU, "
                          f"wrk {wrk_busy:3.0f} %)", flush=True)
        print()
        print("| file | server | req/s median (min-max) | CPU ns/byte median (min-max) | rate vs nginx | CPU/byte vs nginx | server busy | wrk busy |")
        print("|---|---|---|---|---|---|---|---|")
        for name in FILES:
            base = results[("nginx", name)]
            base_rps = statistics.median(x[0] for x in base)
            base_cpu = statistics.median(x[1] for x in base)
            for server in servers:
                xs = results[(server, name)]
                rps = [x[0] for x in xs]
                cpu = [x[1] for x in xs]
                print(f"| {name} | {server} | {statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) | "
                      f"{statistics.median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f}) | "
                      f"{statistics.median(rps) / base_rps:.2f}x | {statistics.median(cpu) / base_cpu:.2f}x | "
                      f"{statistics.median(x[2] for x in xs):.0f} % | {statistics.median(x[3] for x in xs):.0f} % |")
        # Ratios within each round (the same minute of the machine's load).
        print()
        print("| file | server | rate vs nginx, per round: median (min-max) | CPU/byte vs nginx, per round: median (min-max) |")
        print("|---|---|---|---|")
        for name in FILES:
            base = results[("nginx", name)]
            for server in servers[1:]:
                xs = results[(server, name)]
                rate = [a[0] / b[0] for a, b in zip(xs, base)]
                cpu = [a[1] / b[1] for a, b in zip(xs, base)]
                print(f"| {name} | {server} | {statistics.median(rate):.2f}x ({min(rate):.2f}-{max(rate):.2f}) | "
                      f"{statistics.median(cpu):.2f}x ({min(cpu):.2f}-{max(cpu):.2f}) |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
