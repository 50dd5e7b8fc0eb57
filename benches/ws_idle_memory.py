#!/usr/bin/env python3
"""Idle WebSocket memory, compression ratio and CPU per message of one server.

Starts SERVER (one core) on a free loopback port, opens N connections with
Python `websockets` (its default client: permessage-deflate offered), each
sending one realistic JSON chat message and reading the echo, then holds
them idle and reads the server's VmRSS from /proc: (RSS - RSS before) / N is
the cost of an idle connection. Then one connection echoes a chat stream of
M messages through a counting TCP relay: wire bytes (server to client,
frames included) / payload bytes is the ratio, and the server's utime+stime
over the stream / M is the CPU per message. Stops the server by PID.

usage:
  ws_idle_memory.py --server percore --path /ws -n 10000 --max-kib 16
  ws_idle_memory.py --server python -n 1000      # websockets' own server
  ws_idle_memory.py --server node -n 1000        # Node `ws`, perMessageDeflate: true
Servers: percore runs target/release/examples/ws_deflate (routes /ws,
/ws-takeover, /ws-full, /ws-plain); --server demo runs the demo's /ws.
With --max-kib the run fails when an idle connection costs more.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "tests", "node")
PY_SERVER = """
import asyncio, sys, websockets
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), compression="deflate", max_size=None):
        print("listening", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""
NODE_SERVER = """
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: +process.argv[process.argv.length - 1], perMessageDeflate: true });
wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
wss.on('listening', () => console.log('listening'));
"""

WORDS = ("the a to and of in is it you that for on be with are this have but not "
         "meeting tomorrow deploy build failed passed review merge branch release "
         "coffee lunch thanks great ok sure see later link ticket bug fix issue "
         "customer dashboard latency memory websocket server client").split()
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
ROOMS = ["general", "dev", "ops", "random"]


def chat_messages(count, seed=7):
    """A realistic chat stream: JSON events of 150-450 bytes."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        user = rng.choice(USERS)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
        out.append(json.dumps({
            "type": "message", "id": 100000 + i, "room": rng.choice(ROOMS),
            "user": {"id": USERS.index(user) + 1, "name": user, "avatar": f"https://cdn.example.com/u/{user}.png"},
            "text": text, "ts": f"2026-12-04T21:{i // 60 % 60:02d}:{i % 60:02d}.{rng.randint(0, 999):03d}Z",
            "reactions": [rng.choice(["+1", "heart", "tada"])] if rng.random() < 0.2 else [],
        }, separators=(",", ":")))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind, port, driver):
    if kind in ("percore", "demo"):
        exe = "ws_deflate" if kind == "percore" else "demo"
        cmd = [os.path.join(ROOT, "target", "release", "examples", exe),
               "--listen", f"127.0.0.1:{port}", "--cores", "1", "--driver", driver]
    elif kind == "python":
        cmd = [sys.executable, "-c", PY_SERVER, str(port)]
    else:
        cmd = ["node", "-e", NODE_SERVER, str(port)]
    return spawn_listening(cmd, "server")


def spawn_listening(cmd, name):
    """Starts `cmd` (from the Node test folder) and waits for its first
    stdout line, which must say "listening"; returns the process."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=NODE_DIR)
    line = proc.stdout.readline().decode()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"{name} did not start: {line!r}")
    return proc


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def open_idle(url, n, message, compression):
    conns = []
    for start_i in range(0, n, 200):
        batch = await asyncio.gather(*[
            websockets.connect(url, compression=compression, max_size=None, ping_interval=None)
            for _ in range(min(200, n - start_i))])
        for ws in batch:
            await ws.send(message)
        for ws in batch:
            assert await ws.recv() == message
        conns.extend(batch)
    return conns


async def relay(counter, port):
    """A TCP relay counting the bytes the server sends."""
    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(r, w, count):
            while data := await r.read(65536):
                if count:
                    counter[0] += len(data)
                w.write(data)
                await w.drain()
            w.close()
        await asyncio.gather(pipe(cr, sw, False), pipe(sr, cw, True), return_exceptions=True)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def measure(args, pid, port):
    url = f"ws://127.0.0.1:{port}{args.path}"
    compression = None if args.no_deflate else "deflate"
    stream = chat_messages(args.messages)
    before = rss_kib(pid)
    t0 = time.monotonic()
    conns = await open_idle(url, args.n, stream[0], compression)
    await asyncio.sleep(2)
    after = rss_kib(pid)
    ext = conns[0].response.headers.get("sec-websocket-extensions")
    per_conn = (after - before) / args.n
    # Ratio and CPU on a chat stream, one connection through the relay.
    counter = [0]
    server, rport = await relay(counter, port)
    async with websockets.connect(f"ws://127.0.0.1:{rport}{args.path}", compression=compression,
                                  max_size=None, ping_interval=None) as ws:
        counter[0] = 0
        c0 = cpu_seconds(pid)
        for i in range(0, len(stream), 50):
            for m in stream[i:i + 50]:
                await ws.send(m)
            for m in stream[i:i + 50]:
                assert await ws.recv() == m
        cpu = cpu_seconds(pid) - c0
        wire = counter[0]
    server.close()
    payload = sum(len(m) for m in stream)
    for ws in conns:
        await ws.close()
    return {
        "server": args.server, "path": args.path, "n": args.n, "extensions": ext,
        "rss_before_kib": before, "rss_after_kib": after,
        "kib_per_idle_conn": round(per_conn, 2), "open_s": round(time.monotonic() - t0, 1),
        "stream_messages": len(stream), "payload_bytes": payload, "wire_bytes": wire,
        "wire_over_payload": round(wire / payload, 3),
        "cpu_us_per_message": round(cpu / len(stream) * 1e6, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", choices=["percore", "demo", "python", "node"], default="percore")
    p.add_argument("--path", default="/ws")
    p.add_argument("--driver", default="uring")
    p.add_argument("-n", type=int, default=1000, help="idle connections (at most 15000)")
    p.add_argument("--messages", type=int, default=2000, help="chat stream length")
    p.add_argument("--no-deflate", action="store_true", help="client does not offer deflate")
    p.add_argument("--max-kib", type=float, help="fail if an idle connection costs more")
    args = p.parse_args()
    args.n = max(1, min(args.n, 15000))
    port = free_port()
    proc = start(args.server, port, args.driver)
    try:
        result = asyncio.run(asyncio.wait_for(measure(args, proc.pid, port), 600))
    finally:
        proc.kill()
        proc.wait()
    print(json.dumps(result))
    if args.max_kib is not None and result["kib_per_idle_conn"] > args.max_kib:
        raise SystemExit(f"idle connection costs {result['kib_per_idle_conn']} KiB > {args.max_kib} KiB")


if __name__ == "__main__":
    main()
