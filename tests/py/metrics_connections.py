"""Holds an HTTP/1.1, an HTTP/2 (prior knowledge), an h2c-upgraded and a
WebSocket connection open to a server with the metrics plugin, and checks
`percore_open_connections{protocol}` in its /metrics with
`prometheus_client`'s parser; then closes them and checks the gauges fall.

usage: metrics_connections.py BASE_URL      (prints "ok")
"""
import asyncio
import base64
import socket
import sys
import time
import urllib.request

import h2.config
import h2.connection
import h2.events
import websockets
from prometheus_client.parser import text_string_to_metric_families

BASE = sys.argv[1].rstrip("/")
HOST, PORT = BASE.replace("http://", "").split(":")
PORT = int(PORT)


def open_gauges():
    """The gauges, scraped over a fresh connection (itself HTTP/1.1)."""
    text = urllib.request.urlopen(BASE + "/metrics", timeout=5).read().decode()
    seen = {}
    request_protocols = set()
    for family in text_string_to_metric_families(text):
        if family.name == "percore_open_connections":
            assert family.type == "gauge", family.type
            for s in family.samples:
                seen[s.labels["protocol"]] = s.value
        if family.name == "percore_requests":
            request_protocols |= {s.labels["protocol"] for s in family.samples}
    assert set(seen) == {"HTTP/1.1", "HTTP/2", "WebSocket", "other"}, seen
    # One spelling for both families: the HTTP versions the requests are
    # counted by are gauge labels too.
    assert request_protocols == {"HTTP/1.0", "HTTP/1.1", "HTTP/2"}, request_protocols
    assert {"HTTP/1.1", "HTTP/2"} <= set(seen) & request_protocols
    return seen


def wait_for(want, what):
    """Polls the gauges until they equal `want` (connections close
    asynchronously on the server's side)."""
    deadline = time.time() + 5
    while True:
        seen = open_gauges()
        if seen == want:
            return
        if time.time() > deadline:
            raise AssertionError(f"{what}: gauges {seen}, want {want}")
        time.sleep(0.05)


def h1_keepalive():
    sock = socket.create_connection((HOST, PORT), timeout=5)
    sock.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"Hello, World!" not in got:
        got += sock.recv(4096)
    assert got.startswith(b"HTTP/1.1 200"), got
    return sock


def h2_exchange(sock, conn, stream_id):
    """Reads until stream `stream_id` ends; returns its status."""
    status = None
    while True:
        data = sock.recv(65536)
        assert data, "connection closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == stream_id:
                status = dict(ev.headers)[":status"]
            if isinstance(ev, h2.events.StreamEnded) and ev.stream_id == stream_id:
                sock.sendall(conn.data_to_send())
                return status
        sock.sendall(conn.data_to_send())


def h2_prior_knowledge():
    sock = socket.create_connection((HOST, PORT), timeout=5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", "/plaintext"), (":scheme", "http"), (":authority", "x")], end_stream=True)
    sock.sendall(conn.data_to_send())
    assert h2_exchange(sock, conn, 1) == "200"
    return sock


def h2c_upgraded():
    sock = socket.create_connection((HOST, PORT), timeout=5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    settings = conn.initiate_upgrade_connection()
    sock.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                 b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.sendall(conn.data_to_send())
    assert h2_exchange(sock, conn, 1) == "200"
    return sock


async def main():
    base_gauges = {"HTTP/1.1": 1, "HTTP/2": 0, "WebSocket": 0, "other": 0}  # the scrape itself
    wait_for(base_gauges, "before")
    h1 = h1_keepalive()
    h2pk = h2_prior_knowledge()
    h2c = h2c_upgraded()
    async with websockets.connect(f"ws://{HOST}:{PORT}/ws") as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        wait_for({"HTTP/1.1": 2, "HTTP/2": 2, "WebSocket": 1, "other": 0}, "all open")
    wait_for({"HTTP/1.1": 2, "HTTP/2": 2, "WebSocket": 0, "other": 0}, "websocket closed")
    h2pk.close()
    h2c.close()
    wait_for({"HTTP/1.1": 2, "HTTP/2": 0, "WebSocket": 0, "other": 0}, "h2 closed")
    h1.close()
    wait_for(base_gauges, "all closed")
    print("ok")


asyncio.run(main())
