"""WebSocket over HTTP/2 (RFC 8441) by hand with Python `h2`, for percore's tests.

usage: h2_ws.py BASE_URL MODE
BASE_URL is http://HOST:PORT (h2c, prior knowledge) or https://HOST:PORT
(TLS, ALPN h2, any certificate). Prints "ok" and exits 0 when every check
of MODE passes; fails with an assertion otherwise.
"""
import os
import socket
import ssl
import struct
import sys
import time
import zlib

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import hyperframe.frame as hf


def open_socket(base):
    tls = base.startswith("https://")
    host, port = base.split("://")[1].rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)))
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    sock.settimeout(5)
    return sock, host + ":" + port, "https" if tls else "http"


# ---- WebSocket frames (client side: masked) ----------------------------------


def ws_frame(opcode, payload, fin=True, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else mask_fast(payload, key)
    return head + key + masked


def mask_fast(payload, key):
    k = int.from_bytes(key * ((len(payload) + 3) // 4), "big") >> (8 * ((4 - len(payload) % 4) % 4))
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def parse_frames(buf):
    """Complete server frames at the front of buf: [(fin, rsv1, opcode, payload)], rest."""
    frames = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        assert b1 & 0x80 == 0, "server frames are not masked"
        n = b1 & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack("!H", buf[2:4])[0]
            off = 4
        elif n == 127:
            if len(buf) < 10:
                break
            n = struct.unpack("!Q", buf[2:10])[0]
            off = 10
        if len(buf) < off + n:
            break
        frames.append((bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, bytes(buf[off : off + n])))
        buf = buf[off + n :]
    return frames, buf


def deflate_message(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate_message(data):
    d = zlib.decompressobj(-15)
    return d.decompress(data + b"\x00\x00\xff\xff")


# ---- an h2 client that opens WebSocket streams ---------------------------------


class Client:
    def __init__(self, base):
        self.sock, self.authority, self.scheme = open_socket(base)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.flush()
        self.headers = {}
        self.data = {}
        self.ended = set()
        self.resets = {}
        self.settings_seen = False
        self.wait(lambda: self.settings_seen)
        assert (
            self.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
        ), "SETTINGS_ENABLE_CONNECT_PROTOCOL not offered"

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        if not data:
            raise EOFError("server closed the connection")
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(ev, h2.events.ResponseReceived):
                self.headers[ev.stream_id] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                self.data.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                # Consumed at once: give the window back.
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                self.resets[ev.stream_id] = ev.error_code
        self.flush()
        return True

    def wait(self, pred, limit=10.0):
        deadline = time.time() + limit
        while not pred():
            assert time.time() < deadline, "timed out"
            self.pump(max(0.05, deadline - time.time()))

    def open_ws(self, path, extensions=None, protocol=None):
        sid = self.conn.get_next_available_stream_id()
        h = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", self.scheme),
            (":authority", self.authority),
            (":path", path),
            ("sec-websocket-version", "13"),
            ("origin", self.scheme + "://" + self.authority),
        ]
        if extensions:
            h.append(("sec-websocket-extensions", extensions))
        if protocol:
            h.append(("sec-websocket-protocol", protocol))
        self.conn.send_headers(sid, h)
        self.flush()
        self.wait(lambda: sid in self.headers or sid in self.resets)
        assert sid not in self.resets, self.resets
        got = self.headers[sid]
        assert got[":status"] == "200", got
        assert "sec-websocket-accept" not in got, got
        assert "upgrade" not in got and "connection" not in got, got
        return sid

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            sid,
            [(":method", "GET"), (":scheme", self.scheme), (":authority", self.authority), (":path", path)],
            end_stream=True,
        )
        self.flush()
        return sid

    def send(self, sid, data, end=False):
        """Sends within the flow-control windows, waiting for WINDOW_UPDATEs."""
        data = memoryview(data)
        while data:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.pump(1.0)
                continue
            self.conn.send_data(sid, bytes(data[:room]))
            data = data[room:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def ws_send(self, sid, opcode, payload, rsv1=False):
        self.send(sid, ws_frame(opcode, payload, rsv1=rsv1))

    def ws_recv(self, sid, limit=10.0):
        """The next complete server frame on `sid`."""
        self.wait(lambda: parse_frames(bytes(self.data.get(sid, b"")))[0], limit)
        first, rest = parse_frames_one(bytes(self.data[sid]))
        self.data[sid] = bytearray(rest)
        return first


def parse_frames_one(buf):
    frames, _ = parse_frames(buf)
    assert frames
    # Re-parse the header of the first frame to know its length.
    n = buf[1] & 0x7F
    off = 2
    if n == 126:
        n = struct.unpack("!H", buf[2:4])[0]
        off = 4
    elif n == 127:
        n = struct.unpack("!Q", buf[2:10])[0]
        off = 10
    return frames[0], buf[off + n :]


TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def close_handshake(c, sid):
    """Client Close 1000; the server answers Close and ends the stream (END_STREAM)."""
    c.ws_send(sid, CLOSE, struct.pack("!H", 1000) + b"bye")
    fin, rsv1, op, payload = c.ws_recv(sid)
    assert op == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000, (op, payload)
    c.wait(lambda: sid in c.ended)
    assert sid not in c.resets, c.resets
    c.conn.end_stream(sid)
    c.flush()


# ---- modes -------------------------------------------------------------------------


def echo(base):
    c = Client(base)
    sid = c.open_ws("/ws")
    assert "sec-websocket-extensions" not in c.headers[sid]
    c.ws_send(sid, TEXT, "héllo over h2".encode())
    assert c.ws_recv(sid) == (True, False, TEXT, "héllo over h2".encode())
    c.ws_send(sid, BINARY, bytes(range(256)))
    assert c.ws_recv(sid) == (True, False, BINARY, bytes(range(256)))
    c.ws_send(sid, PING, b"p")
    assert c.ws_recv(sid) == (True, False, PONG, b"p")
    close_handshake(c, sid)
    # The connection goes on after the WebSocket ended.
    g = c.get("/plaintext")
    c.wait(lambda: g in c.ended)
    assert bytes(c.data[g]) == b"Hello, World!"


def deflate(base):
    c = Client(base)
    sid = c.open_ws("/ws", extensions="permessage-deflate; client_max_window_bits")
    ext = c.headers[sid].get("sec-websocket-extensions", "")
    assert ext.startswith("permessage-deflate"), c.headers[sid]
    text = ("compress me over HTTP/2 " * 200).encode()
    c.ws_send(sid, TEXT, deflate_message(text), rsv1=True)
    fin, rsv1, op, payload = c.ws_recv(sid)
    assert op == TEXT and fin, (op, fin)
    assert rsv1, "the echo is not compressed"
    assert len(payload) < len(text) // 4, len(payload)
    assert inflate_message(payload) == text
    # An uncompressed message on the same socket is fine too.
    c.ws_send(sid, TEXT, b"plain")
    fin, rsv1, op, payload = c.ws_recv(sid)
    assert (inflate_message(payload) if rsv1 else payload) == b"plain"
    close_handshake(c, sid)


def multiplex(base):
    c = Client(base)
    a = c.open_ws("/ws")
    b = c.open_ws("/ws")
    g = c.get("/plaintext")
    for i in range(20):
        c.ws_send(a, TEXT, b"a%d" % i)
        c.ws_send(b, TEXT, b"b%d" % i)
    for i in range(20):
        assert c.ws_recv(a) == (True, False, TEXT, b"a%d" % i)
        assert c.ws_recv(b) == (True, False, TEXT, b"b%d" % i)
    c.wait(lambda: g in c.ended)
    assert bytes(c.data[g]) == b"Hello, World!"
    close_handshake(c, a)
    # b still works after a ended.
    c.ws_send(b, TEXT, b"still here")
    assert c.ws_recv(b) == (True, False, TEXT, b"still here")
    close_handshake(c, b)


def chat(base):
    c = Client(base)
    a = c.open_ws("/chat")
    b = c.open_ws("/chat")
    time.sleep(0.2)  # both subscribed
    c.ws_send(a, TEXT, b"hello from a")
    assert c.ws_recv(a)[2:] == (TEXT, b"hello from a")
    assert c.ws_recv(b)[2:] == (TEXT, b"hello from a")
    c.ws_send(b, TEXT, b"hi from b")
    assert c.ws_recv(a)[2:] == (TEXT, b"hi from b")
    assert c.ws_recv(b)[2:] == (TEXT, b"hi from b")
    close_handshake(c, a)
    close_handshake(c, b)


def big(base):
    """A 1 MiB message both ways: more than the client's 65 535-byte
    window and the server's initial stream window; a GET on the same
    connection is answered while it flows."""
    c = Client(base)
    assert c.conn.local_settings.initial_window_size == 65535
    sid = c.open_ws("/ws")
    msg = os.urandom(1 << 20)
    c.ws_send(sid, BINARY, msg)
    g = c.get("/plaintext")
    fin, rsv1, op, payload = c.ws_recv(sid, limit=30)
    assert op == BINARY and payload == msg, (op, len(payload))
    c.wait(lambda: g in c.ended)
    assert bytes(c.data[g]) == b"Hello, World!"
    close_handshake(c, sid)


def reset(base):
    """RST_STREAM from the client ends the WebSocket; the connection goes on."""
    c = Client(base)
    sid = c.open_ws(sys.argv[3] if len(sys.argv) > 3 else "/ws")
    c.ws_send(sid, TEXT, b"before the reset")
    c.ws_recv(sid)
    c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    time.sleep(0.3)
    g = c.get("/plaintext")
    c.wait(lambda: g in c.ended)
    assert bytes(c.data[g]) == b"Hello, World!"
    print("reset sent", flush=True)
    time.sleep(float(os.environ.get("HOLD", "0")))


def ws_connect_fields(r, path="/ws"):
    return [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", r.scheme),
        (":authority", r.authority),
        (":path", path),
        ("sec-websocket-version", "13"),
    ]


def limit(base):
    """Against a server allowing 2 concurrent streams (raw frames: Python
    h2 would not even send the third): WebSocket streams count; a third is
    refused; one closed makes room again."""
    r = Raw(base)
    r.sock.sendall(r.headers(1, ws_connect_fields(r)) + r.headers(3, ws_connect_fields(r)))
    assert r.expect(1, hf.HeadersFrame) and r.expect(3, hf.HeadersFrame)
    r.sock.sendall(r.headers(5, ws_connect_fields(r)))
    rst = r.expect(5, hf.RstStreamFrame)
    assert rst.error_code == 7, rst  # REFUSED_STREAM
    # Close stream 1: our Close, the server's Close, its END_STREAM, ours.
    r.sock.sendall(r.data(1, ws_frame(CLOSE, struct.pack("!H", 1000))))
    assert r.expect(1, hf.DataFrame, end=True)
    r.sock.sendall(r.data(1, b"", end=True))
    time.sleep(0.2)
    r.sock.sendall(r.headers(7, ws_connect_fields(r)))
    assert r.expect(7, hf.HeadersFrame)
    r.sock.sendall(r.data(7, ws_frame(TEXT, b"room again")))
    d = r.expect(7, hf.DataFrame)
    assert parse_frames(bytes(d.data))[0] == [(True, False, TEXT, b"room again")], d.data


def going_away(base):
    """The server shuts down gracefully (GOAWAY first: raw frames, as Python
    h2 stops reading at a GOAWAY): the WebSocket gets Close 1001, the stream
    ends after our Close, then the connection closes."""
    r = Raw(base)
    r.sock.sendall(r.headers(1, ws_connect_fields(r)))
    assert r.expect(1, hf.HeadersFrame)
    print("open", flush=True)
    d = r.expect(1, hf.DataFrame, limit=15)
    frames, _ = parse_frames(bytes(d.data))
    assert frames and frames[0][2] == CLOSE and struct.unpack("!H", frames[0][3][:2])[0] == 1001, frames
    r.sock.sendall(r.data(1, ws_frame(CLOSE, struct.pack("!H", 1001))))
    assert r.expect(1, hf.DataFrame, end=True)
    r.sock.sendall(r.data(1, b"", end=True))
    for f in r.frames(10):
        assert not isinstance(f, hf.RstStreamFrame), f
    assert r.eof, "the connection stayed open"


# ---- malformed extended CONNECTs: raw frames, so nothing is "fixed" for us --------


class Raw:
    def __init__(self, base):
        self.sock, self.authority, self.scheme = open_socket(base)
        self.enc = hpack.Encoder()
        self.buf = b""
        self.eof = False
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + hf.SettingsFrame(0).serialize())

    def headers(self, sid, fields, end=False):
        f = hf.HeadersFrame(sid)
        f.data = self.enc.encode(fields)
        f.flags.add("END_HEADERS")
        if end:
            f.flags.add("END_STREAM")
        return f.serialize()

    def data(self, sid, payload, end=False):
        f = hf.DataFrame(sid)
        f.data = payload
        if end:
            f.flags.add("END_STREAM")
        return f.serialize()

    def frames(self, limit=5.0):
        deadline = time.time() + limit
        while time.time() < deadline:
            while len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9 : 9 + length]))
                self.buf = self.buf[9 + length :]
                if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                    self.sock.sendall(hf.SettingsFrame(0, flags=["ACK"]).serialize())
                yield f
            try:
                self.sock.settimeout(max(0.05, deadline - time.time()))
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:  # reset, or a TLS alert: closed all the same
                data = b""
            if not data:
                self.eof = True
                return
            self.buf += data

    def expect(self, sid, kind, end=False, limit=5.0):
        """The next frame of `kind` on `sid` (with END_STREAM if `end`); None if none comes."""
        for f in self.frames(limit):
            if f.stream_id == sid and isinstance(f, kind) and (not end or "END_STREAM" in f.flags):
                return f
        return None

    def answer(self, sid):
        """('rst', code), ('status', s) or ('goaway', code) for stream sid."""
        for f in self.frames():
            if isinstance(f, hf.RstStreamFrame) and f.stream_id == sid:
                return ("rst", f.error_code)
            if isinstance(f, hf.GoAwayFrame):
                return ("goaway", f.error_code)
            if isinstance(f, hf.HeadersFrame) and f.stream_id == sid:
                return ("headers", f.data)
        return ("nothing", None)


PROTOCOL_ERROR = 1


def malformed(base):
    ok_fields = lambda a, s: [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", s),
        (":authority", a),
        (":path", "/ws"),
        ("sec-websocket-version", "13"),
    ]
    cases = {
        "no :path": lambda a, s: [f for f in ok_fields(a, s) if f[0] != ":path"],
        "no :scheme": lambda a, s: [f for f in ok_fields(a, s) if f[0] != ":scheme"],
        "no :authority": lambda a, s: [f for f in ok_fields(a, s) if f[0] != ":authority"],
        ":protocol on GET": lambda a, s: [(":method", "GET")] + ok_fields(a, s)[1:],
        "CONNECT with :path but no :protocol": lambda a, s: [f for f in ok_fields(a, s) if f[0] != ":protocol"],
        "empty :protocol": lambda a, s: [(k, "" if k == ":protocol" else v) for k, v in ok_fields(a, s)],
    }
    for name, fields in cases.items():
        r = Raw(base)
        r.sock.sendall(r.headers(1, fields(r.authority, r.scheme)))
        got = r.answer(1)
        assert got == ("rst", PROTOCOL_ERROR), (name, got)
        r.sock.close()
    # The request ends in its HEADERS: no tunnel to open.
    r = Raw(base)
    r.sock.sendall(r.headers(1, ok_fields(r.authority, r.scheme), end=True))
    assert r.answer(1) == ("rst", PROTOCOL_ERROR), "END_STREAM"
    # DATA before the 200: the client may not send through a tunnel not yet open.
    r = Raw(base)
    r.sock.sendall(r.headers(1, ok_fields(r.authority, r.scheme)) + r.data(1, ws_frame(TEXT, b"early")))
    assert r.answer(1) == ("rst", PROTOCOL_ERROR), "DATA before 200"
    # The connection survives the stream errors: a good one on the same connection works.
    r.sock.sendall(r.headers(3, ok_fields(r.authority, r.scheme)))
    got = r.answer(3)
    assert got[0] == "headers", got
    # HEADERS (trailers) on an open tunnel.
    r.sock.sendall(r.headers(3, [("x-trailer", "1")], end=True))
    assert r.answer(3) == ("rst", PROTOCOL_ERROR), "trailers on a tunnel"


def unoffered(base):
    """Against a server started with h2_enable_connect_protocol(false): no
    setting, and :protocol is malformed."""
    r = Raw(base)
    for f in r.frames(1.0):
        if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
            assert 8 not in f.settings, f.settings
            break
    fields = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", r.scheme),
        (":authority", r.authority),
        (":path", "/ws"),
        ("sec-websocket-version", "13"),
    ]
    r.sock.sendall(r.headers(1, fields))
    assert r.answer(1) == ("rst", PROTOCOL_ERROR)


if __name__ == "__main__":
    base, mode = sys.argv[1], sys.argv[2]
    globals()[mode](base)
    print("ok")
