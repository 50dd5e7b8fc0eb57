#!/usr/bin/env python3
"""Server CPU per WebSocket message and compression ratio, percore against
Python `websockets` and Node `ws` with their own defaults, in one run.

Every server is pinned to CPU 0 (`taskset -c 0`; percore with `--cores 1`,
io_uring), this client to CPU 1. For each setting one connection (Python
`websockets` client, deflate offered with its defaults) echoes a chat stream
of M JSON messages (150-450 B, from `ws_idle_memory.chat_messages`), 50 in
flight. CPU per message is the server process's utime+stime (all its
threads, /proc/PID/stat) over the stream / M: the client's own cost is not
in it. Settings are interleaved: R rounds, each visiting every setting (in
a rotated order), then median and min-max per setting. Before the timed
rounds, one untimed pass per setting goes through a counting TCP relay:
server-to-client wire bytes (frames and the 101 head included) / payload.

usage:
  ws_deflate_cpu.py [--messages 30000] [--rounds 5]
Needs target/release/examples/ws_deflate and tests/node/node_modules (npm ci).
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_idle_memory import (ROOT, chat_messages, cpu_seconds, free_port,  # noqa: E402
                            relay, spawn_listening)

PY_SERVER = """
import asyncio, sys, websockets
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    comp = None if sys.argv[2] == "plain" else "deflate"
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), compression=comp, max_size=None):
        print("listening", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""
NODE_SERVER = """
const { WebSocketServer } = require('ws');
const argv = process.argv;
const wss = new WebSocketServer({ host: '127.0.0.1', port: +argv[argv.length - 2],
                                  perMessageDeflate: argv[argv.length - 1] !== 'plain' });
wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
wss.on('listening', () => console.log('listening'));
"""

# (label, server process key, path)
SETTINGS = [
    ("percore /ws (default)", "percore", "/ws"),
    ("percore /ws-1k (default, threshold 1 KiB)", "percore", "/ws-1k"),
    ("percore /ws-takeover", "percore", "/ws-takeover"),
    ("percore /ws-full", "percore", "/ws-full"),
    ("percore /ws-plain", "percore", "/ws-plain"),
    ("python websockets, compression=deflate (default)", "python", "/"),
    ("python websockets, compression=None", "python-plain", "/"),
    ("node ws, perMessageDeflate: true", "node", "/"),
    ("node ws, perMessageDeflate: false (its default)", "node-plain", "/"),
]


def start(key, port):
    pin = ["taskset", "-c", "0"]
    if key == "percore":
        cmd = pin + [os.path.join(ROOT, "target", "release", "examples", "ws_deflate"),
                     "--listen", f"127.0.0.1:{port}", "--cores", "1", "--driver", "uring"]
    elif key.startswith("python"):
        cmd = pin + [sys.executable, "-c", PY_SERVER, str(port), "plain" if "plain" in key else "deflate"]
    else:
        cmd = pin + ["node", "-e", NODE_SERVER, str(port), "plain" if "plain" in key else "deflate"]
    # taskset execs the server: the PID is the server's.
    return spawn_listening(cmd, key)


async def stream_through(url, stream):
    async with websockets.connect(url, compression="deflate", max_size=None, ping_interval=None) as ws:
        ext = ws.response.headers.get("sec-websocket-extensions")
        for i in range(0, len(stream), 50):
            for m in stream[i:i + 50]:
                await ws.send(m)
            for m in stream[i:i + 50]:
                assert await ws.recv() == m
    return ext


async def ratio_pass(port, path, stream):
    counter = [0]
    server, rport = await relay(counter, port)
    ext = await stream_through(f"ws://127.0.0.1:{rport}{path}", stream)
    await asyncio.sleep(0.2)
    server.close()
    return ext, counter[0]


async def timed_pass(port, path, pid, stream):
    url = f"ws://127.0.0.1:{port}{path}"
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await stream_through(url, stream)
    return cpu_seconds(pid) - c0, time.monotonic() - t0


async def run(args, procs):
    stream = chat_messages(args.messages)
    payload = sum(len(m) for m in stream)
    results = {label: {"server": key, "path": path, "cpu_us": [], "msgs_per_s": []}
               for label, key, path in SETTINGS}
    for label, key, path in SETTINGS:
        port, _ = procs[key]
        ext, wire = await ratio_pass(port, path, stream)
        results[label].update(extensions=ext, wire_over_payload=round(wire / payload, 3))
    for r in range(args.rounds):
        order = SETTINGS[r % len(SETTINGS):] + SETTINGS[:r % len(SETTINGS)]
        for label, key, path in order:
            port, proc = procs[key]
            cpu, wall = await timed_pass(port, path, proc.pid, stream)
            results[label]["cpu_us"].append(round(cpu / len(stream) * 1e6, 2))
            results[label]["msgs_per_s"].append(round(len(stream) / wall))
    for res in results.values():
        res["cpu_us_median"] = statistics.median(res["cpu_us"])
        res["cpu_us_min_max"] = [min(res["cpu_us"]), max(res["cpu_us"])]
        res["msgs_per_s_median"] = statistics.median(res["msgs_per_s"])
    return {"messages": len(stream), "payload_bytes": payload, "rounds": args.rounds,
            "clk_tck": os.sysconf("SC_CLK_TCK"), "settings": results}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=30000, help="chat stream length per pass")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds")
    args = p.parse_args()
    os.sched_setaffinity(0, {1})
    procs = {}
    try:
        for key in dict.fromkeys(k for _, k, _ in SETTINGS):
            port = free_port()
            procs[key] = (port, start(key, port))
        out = asyncio.run(run(args, procs))
    finally:
        for _, proc in procs.values():
            proc.kill()
            proc.wait()
    print(json.dumps(out, indent=1))
    print(f"{'setting':52} {'ratio':>6} {'CPU us/msg median (min-max)':>30} {'msg/s':>7}")
    for label, res in out["settings"].items():
        lo, hi = res["cpu_us_min_max"]
        print(f"{label:52} {res['wire_over_payload']:6.3f} "
              f"{res['cpu_us_median']:>12.2f} ({lo:.2f}-{hi:.2f}) {res['msgs_per_s_median']:>12.0f}")


if __name__ == "__main__":
    main()
