"""Chat across demo processes (Python `websockets`): members on two
processes bridged through one Redis each see every line exactly once.

usage: chat_bridge.py WS_URL_A WS_URL_B
Prints "ok" and exits 0 when every check passes.
"""
import asyncio
import sys

import websockets


async def expect(ws, text, who):
    got = await asyncio.wait_for(ws.recv(), 5)
    assert got == text, (who, got, text)


async def quiet(ws, who):
    """Nothing more arrives (no line twice)."""
    try:
        extra = await asyncio.wait_for(ws.recv(), 0.7)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"{who} got an extra line: {extra!r}")


async def main(a, b):
    async with websockets.connect(a) as a1, websockets.connect(a) as a2, \
            websockets.connect(b) as b1:
        members = {"a1": a1, "a2": a2, "b1": b1}
        # The server joins a member to its room right after the handshake.
        await asyncio.sleep(0.3)
        for sender, line in [("a1", "hello from A"), ("b1", "hi from B ✓"), ("a2", "again A")]:
            await members[sender].send(line)
            for who, ws in members.items():
                await expect(ws, line, who)
        for who, ws in members.items():
            await quiet(ws, who)
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
