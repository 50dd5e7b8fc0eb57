"""HTTP/2 interop and attack client (Python `h2`, `httpx`) for percore's tests.

usage: h2_client.py BASE_URL MODE
Prints "ok" and exits 0 when every check of MODE passes.
"""
import socket
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.frame as hf
import httpx


def connect(base):
    host, port = base.replace("http://", "").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def read_events(sock, conn, until, limit=5.0):
    """Reads until `until(events_so_far)` holds; returns all events."""
    events = []
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        try:
            events += conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            break
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                pass
        if until(events):
            break
    return events


def req_headers(base, method, path, extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", base.replace("http://", "")), (":path", path)] + list(extra)


def basic(base):
    sock, conn = connect(base)
    # Many concurrent streams, bodies, flow control.
    bodies = {}
    for i in range(20):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, req_headers(base, "GET", "/plaintext"), end_stream=True)
    payload = bytes(range(256)) * 1024  # 256 KiB: needs WINDOW_UPDATEs both ways
    echo_id = conn.get_next_available_stream_id()
    conn.send_headers(echo_id, req_headers(base, "POST", "/echo", [("content-type", "application/x-test")]))
    sock.sendall(conn.data_to_send())
    sent = 0
    done = set()
    statuses = {}
    while len(done) < 21:
        while sent < len(payload) and conn.local_flow_control_window(echo_id) > 0:
            n = min(conn.local_flow_control_window(echo_id), conn.max_outbound_frame_size, len(payload) - sent)
            conn.send_data(echo_id, payload[sent:sent + n], end_stream=(sent + n == len(payload)))
            sent += n
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        assert data, "server closed early"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                statuses[ev.stream_id] = dict(ev.headers)[":status"]
            elif isinstance(ev, h2.events.DataReceived):
                bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done.add(ev.stream_id)
        sock.sendall(conn.data_to_send())
    assert all(s == "200" for s in statuses.values()), statuses
    assert bytes(bodies[echo_id]) == payload, len(bodies[echo_id])
    assert all(bytes(b) == b"Hello, World!" for sid, b in bodies.items() if sid != echo_id)
    # Graceful close.
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    # httpx with HTTP/2 (prior knowledge).
    with httpx.Client(http1=False, http2=True) as client:
        r = client.get(base + "/json")
        assert r.http_version == "HTTP/2", r.http_version
        assert r.json() == {"message": "Hello, World!"}
        r = client.post(base + "/echo", content=b"x" * 100000, headers={"content-type": "text/plain"})
        assert r.content == b"x" * 100000 and r.headers["content-type"] == "text/plain"
        assert client.get(base + "/nope").status_code == 404


def goaway_code(events):
    for ev in events:
        if isinstance(ev, h2.events.ConnectionTerminated):
            return ev.error_code
    return None


def rapid_reset(base):
    sock, conn = connect(base)
    for _ in range(200):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, req_headers(base, "GET", "/slow"), end_stream=True)
        conn.reset_stream(sid)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, lambda evs: goaway_code(evs) is not None)
    code = goaway_code(events)
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code


def settings_flood(base):
    sock, conn = connect(base)
    frame = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # empty SETTINGS
    sock.sendall(frame * 10000)
    events = read_events(sock, conn, lambda evs: goaway_code(evs) is not None)
    code = goaway_code(events)
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code


def continuation_flood(base):
    sock, conn = connect(base)
    # HEADERS without END_HEADERS on stream 1, then endless CONTINUATION frames.
    block = b"\x82\x86\x84"  # :method GET, :scheme http, :path /
    headers = len(block).to_bytes(3, "big") + b"\x01\x00" + (1).to_bytes(4, "big") + block
    cont = b"\x00\x00\x05\x09\x00" + (1).to_bytes(4, "big") + b"\x40\x01a\x01b"
    try:
        sock.sendall(headers + cont * 5000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    events = read_events(sock, conn, lambda evs: goaway_code(evs) is not None)
    code = goaway_code(events)
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code


def stream_limit(base):
    sock, conn = connect(base)
    ids = []
    for _ in range(210):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, req_headers(base, "GET", "/slow"), end_stream=True)
        ids.append(sid)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, lambda evs: sum(isinstance(e, h2.events.StreamEnded) for e in evs) >= 200, limit=10)
    refused = [e for e in events if isinstance(e, h2.events.StreamReset) and e.error_code == h2.errors.ErrorCodes.REFUSED_STREAM]
    ended = [e for e in events if isinstance(e, h2.events.StreamEnded)]
    assert len(refused) == 10, len(refused)
    assert len(ended) == 200, len(ended)


def window_stall(base):
    """A client that never opens its window: the server resets the stream
    (CANCEL) after its send-window timeout and keeps the connection."""
    sock, conn = connect(base)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, "GET", "/plaintext"), end_stream=True)
    sock.sendall(conn.data_to_send())
    started = time.time()
    events = read_events(sock, conn, lambda evs: any(isinstance(e, h2.events.StreamReset) for e in evs), limit=10)
    waited = time.time() - started
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [(sid, h2.errors.ErrorCodes.CANCEL)], events
    assert not any(isinstance(e, h2.events.DataReceived) for e in events), events
    assert 0.5 <= waited < 5, waited
    # The connection still serves a stream the client lets through.
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, "GET", "/plaintext"), end_stream=True)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)
    assert body == b"Hello, World!", events


def trailers(base):
    """Request trailers reach the handler; /echo sends them back as response trailers."""
    sock, conn = connect(base)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, "POST", "/echo", [("content-type", "text/plain")]))
    conn.send_data(sid, b"hello trailers")
    conn.send_headers(sid, [("x-checksum", "abc"), ("x-count", "2")], end_stream=True)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    got = [e.headers for e in events if isinstance(e, h2.events.TrailersReceived)]
    assert body == b"hello trailers", events
    assert got == [[("x-checksum", "abc"), ("x-count", "2")]], events


def status_of(events, sid):
    for e in events:
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
            return dict(e.headers).get(":status")
    return None


def body_of(events, sid):
    return b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)


def closed(events):
    return any(isinstance(e, h2.events.ConnectionTerminated) for e in events)


def open_stream(base, method, path):
    """A new connection with one request whose body is still to come."""
    sock, conn = connect(base)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, method, path))
    sock.sendall(conn.data_to_send())
    return sock, conn, sid


def asked_to_stop_then_closed(events, sid):
    """The server reset the unfinished request with NO_ERROR, then closed
    the idle connection."""
    resets = [(e.stream_id, e.error_code) for e in events if isinstance(e, h2.events.StreamReset)]
    assert resets == [(sid, h2.errors.ErrorCodes.NO_ERROR)], events
    assert closed(events), events


def slow_bodies(base):
    """Run with body_read_timeout 500 ms, min_body_rate 1000 B/s and a 1 s
    keep-alive timeout. A request body that never comes, or trickles, ends
    in 408; a stream the server has answered is reset with NO_ERROR, so a
    client that never ends its request cannot keep the connection busy; and
    a handler that works before it reads is not a slow body."""
    ended = lambda sid: lambda evs: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in evs)

    # A body that never comes.
    sock, conn, sid = open_stream(base, "POST", "/count")
    started = time.time()
    events = read_events(sock, conn, ended(sid), limit=5)
    assert status_of(events, sid) == "408", events
    assert time.time() - started < 3, time.time() - started
    # The server then asks the client to stop sending, and the idle
    # connection goes away on its keep-alive timeout.
    events += read_events(sock, conn, closed, limit=5)
    asked_to_stop_then_closed(events, sid)
    assert time.time() - started < 5, time.time() - started

    # A body that trickles a byte every 100 ms (10 B/s).
    sock, conn, sid = open_stream(base, "POST", "/count")
    started = time.time()
    events = []
    sock.settimeout(0.1)
    while not ended(sid)(events) and time.time() - started < 5:
        try:
            conn.send_data(sid, b"x")
            sock.sendall(conn.data_to_send())
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, OSError):
            pass
        events += read_events(sock, conn, ended(sid), limit=0.1)
    assert status_of(events, sid) == "408", events
    assert time.time() - started < 3, time.time() - started

    # An answer that does not read the body (405 for POST /plaintext): the
    # client never ends its request, yet the connection still goes idle.
    sock, conn, sid = open_stream(base, "POST", "/plaintext")
    conn.send_data(sid, b"unread")
    sock.sendall(conn.data_to_send())
    started = time.time()
    events = read_events(sock, conn, closed, limit=5)
    assert status_of(events, sid) == "405", events
    asked_to_stop_then_closed(events, sid)
    assert time.time() - started < 4, time.time() - started

    # A handler that answers at once and leaves a task reading the body:
    # once the answer is out and the request reset, that reader gets an
    # error instead of waiting forever.
    sock, conn, sid = open_stream(base, "POST", "/answer-then-read")
    events = read_events(sock, conn, ended(sid), limit=5)
    assert body_of(events, sid) == b"answered", events
    sid2 = conn.get_next_available_stream_id()
    conn.send_headers(sid2, req_headers(base, "GET", "/left-behind"), end_stream=True)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, ended(sid2), limit=5)
    assert body_of(events, sid2).startswith(b"error: "), events

    # A handler that works 800 ms before reading a body sent at once.
    sock, conn, sid = open_stream(base, "POST", "/think-then-count")
    time.sleep(0.1)
    conn.send_data(sid, b"0123456789", end_stream=True)
    sock.sendall(conn.data_to_send())
    events = read_events(sock, conn, ended(sid), limit=5)
    assert status_of(events, sid) == "200", events
    assert body_of(events, sid) == b"10", events


def stops_reading(base):
    """Run with a 500 ms write timeout. The client opens every window wide,
    asks for 32 MiB and reads nothing for 2.5 s: the server's socket write
    stalls and the server closes the connection, so reading afterwards ends
    early instead of delivering the whole response."""
    sock, conn = connect(base)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    conn.increment_flow_control_window(2**31 - 1 - 65535)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, "GET", "/big/32"), end_stream=True)
    sock.sendall(conn.data_to_send())
    time.sleep(2.5)
    got = 0
    ended = False
    started = time.time()
    sock.settimeout(0.5)
    while time.time() - started < 10:
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            ended = True
            break
        if not data:
            ended = True
            break
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            continue
        got += sum(len(e.data) for e in events if isinstance(e, h2.events.DataReceived))
        if any(isinstance(e, h2.events.StreamEnded) for e in events):
            break
    assert ended, "the connection is still open after %d bytes" % got
    assert got < 32 << 20, got


def pings_do_not_hold(base):
    """Run with a 1 s keep-alive timeout: a client that opens no stream but
    pings every 300 ms still gets GOAWAY and a close."""
    sock, conn = connect(base)
    sock.settimeout(0.1)  # so that a ping really goes out every 300 ms
    started = time.time()
    events = []
    while time.time() - started < 5 and not closed(events):
        conn.ping(b"12345678")
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            break
        events += read_events(sock, conn, closed, limit=0.3)
    assert closed(events), events
    assert time.time() - started < 3, time.time() - started


def half_close(base):
    """A client that sends its request and then shuts its side of the TCP
    connection still gets the answer."""
    sock, conn = connect(base)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req_headers(base, "GET", "/slow"), end_stream=True)
    sock.sendall(conn.data_to_send())
    sock.shutdown(socket.SHUT_WR)
    events = read_events(sock, conn, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
    assert status_of(events, sid) == "200", events
    assert body_of(events, sid) == b"slow done", events


# Streams answered before their request ends. The client below speaks raw
# frames (hyperframe + hpack): it must send what the `h2` state machine
# refuses to. Every case waits for the complete answer (405 for POST
# /plaintext, which reads no body) before it sends the frame under test, so
# the outcome does not depend on timing: the server drains the request
# while checking its frames, instead of resetting it at once and ignoring
# them.

ERR = h2.errors.ErrorCodes


class RawClient:
    def __init__(self, base):
        host, port = base.replace("http://", "").split(":")
        self.authority = base.replace("http://", "")
        self.sock = socket.create_connection((host, int(port)))
        self.enc = hpack.Encoder()
        self.buf = b""
        # Send windows: the connection's (0) and each stream's.
        self.initial_window = 65535
        self.windows = {0: 65535}
        self.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", hf.SettingsFrame(0))

    def send(self, *frames):
        out = b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        self.sock.sendall(out)

    def headers(self, sid, fields, flags):
        f = hf.HeadersFrame(sid)
        f.data = self.enc.encode(fields)
        f.flags = set(flags) | {"END_HEADERS"}
        self.windows.setdefault(sid, self.initial_window)
        self.send(f)

    def post(self, sid, path="/plaintext", extra=()):
        fields = [(":method", "POST"), (":scheme", "http"), (":authority", self.authority), (":path", path)]
        self.headers(sid, fields + list(extra), ())

    def data(self, sid, payload, end=False):
        f = hf.DataFrame(sid)
        f.data = payload
        if end:
            f.flags.add("END_STREAM")
        self.windows[0] -= len(payload)
        self.windows[sid] = self.windows.get(sid, self.initial_window) - len(payload)
        self.send(f)

    def next_frame(self, deadline):
        """The server's next frame (SETTINGS acknowledged, windows
        followed), or None once the connection closed or `deadline` passed."""
        while True:
            if len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    f.parse_body(memoryview(self.buf[9:9 + length]))
                    self.buf = self.buf[9 + length:]
                    self.follow(f)
                    return f
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.buf += data

    def follow(self, f):
        if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
            new = f.settings.get(hf.SettingsFrame.INITIAL_WINDOW_SIZE)
            if new is not None:
                for sid in self.windows:
                    if sid:
                        self.windows[sid] += new - self.initial_window
                self.initial_window = new
            self.send(hf.SettingsFrame(0, flags=["ACK"]))
        elif isinstance(f, hf.WindowUpdateFrame):
            self.windows[f.stream_id] = self.windows.get(f.stream_id, self.initial_window) + f.window_increment

    def wait_for(self, pred, limit=5.0):
        deadline = time.time() + limit
        seen = []
        while True:
            f = self.next_frame(deadline)
            assert f is not None, "not seen; got %r" % seen
            seen.append(f)
            if pred(f):
                return f, seen

    def wait_window(self, sid, n):
        """Reads until both windows let `n` bytes out on `sid`; a reset or
        GOAWAY meanwhile fails."""
        deadline = time.time() + 5
        while min(self.windows[0], self.windows[sid]) < n:
            f = self.next_frame(deadline)
            assert f is not None, "no window for %d bytes: %r" % (n, self.windows)
            assert not isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame)), f

    def answered(self, sid):
        """Waits for the complete answer of `sid`; the server must not have
        reset it."""
        _, seen = self.wait_for(lambda f: f.stream_id == sid and "END_STREAM" in f.flags)
        assert not any(isinstance(f, hf.RstStreamFrame) for f in seen), seen

    def expect_reset(self, sid, code):
        f, _ = self.wait_for(lambda f: isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame)))
        assert isinstance(f, hf.RstStreamFrame) and f.stream_id == sid and f.error_code == code, f

    def expect_goaway(self, code):
        f, _ = self.wait_for(lambda f: isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame)))
        assert isinstance(f, hf.GoAwayFrame) and f.error_code == code, f

    def still_serves(self, sid):
        """A GET on `sid` is answered 200 with no reset before: the
        connection goes on."""
        fields = [(":method", "GET"), (":scheme", "http"), (":authority", self.authority), (":path", "/plaintext")]
        self.headers(sid, fields, ("END_STREAM",))
        f, seen = self.wait_for(lambda f: f.stream_id == sid and "END_STREAM" in f.flags)
        assert isinstance(f, hf.DataFrame) and f.data == b"Hello, World!", seen
        assert not any(isinstance(x, (hf.RstStreamFrame, hf.GoAwayFrame)) for x in seen), seen


def answered_early(base, extra=()):
    c = RawClient(base)
    c.post(1, extra=extra)
    c.data(1, b"first")
    c.answered(1)
    return c


def early_rst_then_data(base):
    c = answered_early(base)
    rst = hf.RstStreamFrame(1)
    rst.error_code = ERR.CANCEL
    c.send(rst)
    c.data(1, b"after my own reset")
    c.expect_reset(1, ERR.STREAM_CLOSED)
    c.still_serves(3)


def early_rst_then_headers(base):
    c = answered_early(base)
    rst = hf.RstStreamFrame(1)
    rst.error_code = ERR.CANCEL
    c.send(rst)
    c.headers(1, [("x-late", "1")], ("END_STREAM",))
    c.expect_goaway(ERR.STREAM_CLOSED)


def early_second_headers(base):
    c = answered_early(base)
    c.headers(1, [("x-more", "1")], ())
    c.expect_goaway(ERR.PROTOCOL_ERROR)


def early_pseudo_trailers(base):
    c = answered_early(base)
    c.headers(1, [(":path", "/x")], ("END_STREAM",))
    c.expect_reset(1, ERR.PROTOCOL_ERROR)
    c.still_serves(3)


def early_window_overflow(base):
    c = answered_early(base)
    c.send(hf.WindowUpdateFrame(1, window_increment=2**31 - 1))
    c.expect_reset(1, ERR.FLOW_CONTROL_ERROR)
    c.still_serves(3)


def early_content_length(base):
    # One DATA frame ends the request short of its content-length.
    c = answered_early(base, [("content-length", "10")])
    c.data(1, b"abc", end=True)
    c.expect_reset(1, ERR.PROTOCOL_ERROR)
    c.still_serves(3)
    # Several DATA frames add up past it.
    c = answered_early(base, [("content-length", "10")])
    c.data(1, b"abc")
    c.data(1, b"abc")
    c.expect_reset(1, ERR.PROTOCOL_ERROR)
    c.still_serves(3)


def early_drain(base):
    """Run with a 64 KiB receive window and the default max_drain_size
    (256 KiB). A request that ends while drained gets no reset; drained
    DATA gives its window back (more than a window goes through); one that
    goes on past max_drain_size is asked to stop with NO_ERROR."""
    c = answered_early(base)
    c.data(1, b"x" * 1000)
    c.data(1, b"", end=True)
    c.still_serves(3)
    c.post(5)
    c.answered(5)
    sent = 0
    while sent <= 256 * 1024:
        c.wait_window(5, 16384)
        c.data(5, b"y" * 16384)
        sent += 16384
    c.expect_reset(5, ERR.NO_ERROR)
    c.still_serves(7)

def main():
    base, mode = sys.argv[1], sys.argv[2]
    {"basic": basic, "rapid-reset": rapid_reset, "settings-flood": settings_flood,
     "continuation-flood": continuation_flood, "stream-limit": stream_limit,
     "window-stall": window_stall, "trailers": trailers, "slow-bodies": slow_bodies,
     "stops-reading": stops_reading, "pings-do-not-hold": pings_do_not_hold,
     "half-close": half_close, "early-rst-then-data": early_rst_then_data,
     "early-rst-then-headers": early_rst_then_headers, "early-second-headers": early_second_headers,
     "early-pseudo-trailers": early_pseudo_trailers, "early-window-overflow": early_window_overflow,
     "early-content-length": early_content_length, "early-drain": early_drain}[mode](base)
    print("ok")


main()
