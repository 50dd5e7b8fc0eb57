"""WebSocket interop client (Python `websockets`) for percore's tests.

usage: ws_client.py BASE_URL MODE [compress|plain] [PATH]
Prints "ok" and exits 0 when every check of MODE passes.
"""
import asyncio
import os
import sys

import websockets
from websockets.exceptions import ConnectionClosed


async def echo(base, compression, path="/ws"):
    async with websockets.connect(base + path, compression=compression, max_size=8 << 20) as ws:
        ext = ws.response.headers.get("sec-websocket-extensions")
        if compression is None:
            assert ext is None, ext
        else:
            assert ext and ext.startswith("permessage-deflate"), ext
            # /ws keeps no compression context; /ws-takeover keeps it.
            takeover = path == "/ws-takeover"
            assert ("no_context_takeover" not in ext) == takeover, ext
        for text in ["hello", "", "żółć ✓ 𝄞", "x" * 70000]:
            await ws.send(text)
            got = await ws.recv()
            assert got == text, (len(got), len(text))
        for data in [b"\x00", os.urandom(125), os.urandom(126), os.urandom(65536), os.urandom(1 << 20)]:
            await ws.send(data)
            got = await ws.recv()
            assert got == data, (len(got), len(data))
        # Fragmented message.
        await ws.send(["frag", "mented ", "text"])
        assert await ws.recv() == "fragmented text"
        # Ping is answered.
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        # Many messages in flight at once.
        for i in range(500):
            await ws.send(f"m{i}")
        for i in range(500):
            assert await ws.recv() == f"m{i}"
        await ws.close(4000, "done")
        assert ws.close_code == 4000, ws.close_code


async def chat(base, members):
    conns = [await websockets.connect(base + "/chat") for _ in range(members)]
    try:
        await conns[0].send("hello room")
        for c in conns:
            got = await asyncio.wait_for(c.recv(), 5)
            assert got == "hello room", got
        await conns[-1].send("bye")
        for c in conns:
            assert await asyncio.wait_for(c.recv(), 5) == "bye"
    finally:
        for c in conns:
            await c.close()


async def main():
    base = sys.argv[1].replace("http://", "ws://")
    mode = sys.argv[2]
    compression = "deflate" if (len(sys.argv) < 4 or sys.argv[3] == "compress") else None
    if mode == "echo":
        await echo(base, compression, *sys.argv[4:5])
    elif mode == "chat":
        await chat(base, int(sys.argv[3]) if len(sys.argv) > 3 else 8)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("ok")


asyncio.run(main())
