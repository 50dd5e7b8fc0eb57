"""WebSocket interop server (Python `websockets`) for percore's client tests.

usage: ws_server.py compress|plain [CERT KEY]
With CERT and KEY (PEM files) it serves wss:// (TLS) instead of ws://.
Prints "listening on 127.0.0.1:PORT", then serves until killed. Each
connection first gets "hello <subprotocol or none> <extensions or none>",
then every message is echoed, except the text commands:
  "ping-me"  the server pings and sends "pong-received" once answered;
  "close-me" the server closes with code 4000, reason "bye".
"""
import asyncio
import ssl
import sys

import websockets


async def handler(ws):
    proto = ws.subprotocol or "none"
    ext = ws.response.headers.get("sec-websocket-extensions") or "none"
    await ws.send(f"hello {proto} {ext}")
    async for msg in ws:
        if msg == "ping-me":
            pong = await ws.ping(b"percore?")
            await asyncio.wait_for(pong, 5)
            await ws.send("pong-received")
        elif msg == "close-me":
            await ws.close(4000, "bye")
        else:
            await ws.send(msg)


async def main(mode, tls_files):
    compression = "deflate" if mode == "compress" else None
    context = None
    if tls_files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        compression=compression,
        subprotocols=["chat.v1", "chat.v2"],
        max_size=8 << 20,
        ssl=context,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:4]))
