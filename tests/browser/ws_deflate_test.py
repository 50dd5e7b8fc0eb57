"""permessage-deflate as chromium negotiates it with the demo, with and
without context takeover. tests/browser_demo.rs runs it.

    python3 tests/browser/ws_deflate_test.py http://127.0.0.1:PORT
    python3 tests/browser/ws_deflate_test.py https://127.0.0.1:PORT   # over HTTP/2

From the demo's page, WebSockets open to `/ws` (the default: no context
takeover) and to `/ws-takeover` (context takeover kept). For each, the
extension the page sees (`ws.extensions`) must be the one the server
answered (the handshake's `Sec-WebSocket-Extensions`, from the DevTools
network events): permessage-deflate on both, `server_no_context_takeover`
only on `/ws`. Then a run of similar, compressible JSON messages (over the
128-byte threshold, so the server compresses them; with context takeover
each later one is compressed against the earlier ones) must come back
unchanged on each socket: a wrong context would corrupt the inflate and
chromium would fail the connection. Exits non-zero with the reason on any
failure; the browser is killed either way.
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402


from cdp import check  # noqa: E402


# Opens a socket to `path`, echoes `count` compressible messages through it
# and resolves to what the page saw: the negotiated extensions and whether
# every echo came back unchanged.
ROUND_TRIP_JS = """
(async (path, count) => {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(scheme + location.host + path);
  const echoes = [];
  let waiting = null;
  ws.onmessage = (e) => { echoes.push(e.data); if (waiting) waiting(); };
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error('cannot open ' + path));
  });
  const sent = [];
  for (let i = 0; i < count; i++) {
    const event = {type: 'message', id: 1000 + i, room: 'general',
                   user: {id: 7, name: 'grace', avatar: 'https://cdn.example.com/u/grace.png'},
                   text: 'the build passed, the review is done, merge the branch ' + 'and deploy '.repeat(20) + i};
    const text = JSON.stringify(event);
    sent.push(text);
    ws.send(text);
  }
  const deadline = Date.now() + 10000;
  while (echoes.length < count && Date.now() < deadline) {
    await new Promise((ok) => { waiting = ok; setTimeout(ok, 200); });
  }
  const result = {extensions: ws.extensions, sent: sent.length, echoed: echoes.length,
                  same: echoes.length === count && echoes.every((m, i) => m === sent[i]),
                  bytes: sent.reduce((n, m) => n + m.length, 0), state: ws.readyState};
  ws.close(1000, 'done');
  return result;
})
"""


def handshake_extensions(page):
    """`Sec-WebSocket-Extensions` the server answered, by socket URL."""
    urls = {e["params"]["requestId"]: e["params"]["url"] for e in page.events
            if e.get("method") == "Network.webSocketCreated"}
    out = {}
    for e in page.events:
        if e.get("method") != "Network.webSocketHandshakeResponseReceived":
            continue
        headers = {k.lower(): v for k, v in e["params"]["response"].get("headers", {}).items()}
        out[urls.get(e["params"]["requestId"])] = headers.get("sec-websocket-extensions")
    return out


def params(extensions):
    """The parameter names of a `permessage-deflate` answer."""
    parts = [p.strip() for p in extensions.split(";")]
    return parts[0], {p.split("=")[0].strip() for p in parts[1:]}


async def run(base):
    flags = ["--ignore-certificate-errors"] if base.startswith("https") else []
    async with cdp.Browser(extra_flags=flags) as browser:
        page = await browser.new_page(base + "/")
        await page.wait_for("document.readyState === 'complete'")
        seen = {}
        for path in ("/ws", "/ws-takeover"):
            result = await page.eval(f"{ROUND_TRIP_JS}({json.dumps(path)}, 20)", timeout=30)
            check(result["same"], f"{path}: {result['echoed']} of {result['sent']} echoes came back "
                                  f"unchanged (socket state {result['state']})")
            seen[path] = result["extensions"]
            print(f"{path}: ws.extensions = {result['extensions']!r}, "
                  f"{result['sent']} messages ({result['bytes']} B) echoed")
        # The handshake events arrive asynchronously: wait for both.
        for _ in range(100):
            answered = handshake_extensions(page)
            if all(any(u and u.endswith(p) for u in answered) for p in seen):
                break
            await asyncio.sleep(0.05)
        for path, extensions in seen.items():
            server = [v for u, v in answered.items() if u and u.endswith(path)]
            check(server, f"{path}: no handshake event")
            check(extensions == server[0],
                  f"{path}: the page sees {extensions!r}, the server answered {server[0]!r}")
            check(extensions, f"{path}: no extension negotiated")
            name, names = params(extensions)
            check(name == "permessage-deflate", f"{path}: negotiated {extensions!r}")
            takeover = "server_no_context_takeover" not in names
            check(takeover == (path == "/ws-takeover"),
                  f"{path}: context takeover {'kept' if takeover else 'not kept'}: {extensions!r}")
        check(not page.exceptions, f"page errors: {page.exceptions}")
        print("ok: chromium negotiated permessage-deflate with and without context takeover")


def main():
    base = sys.argv[1].rstrip("/")
    cdp.run_test(run(base))


if __name__ == "__main__":
    main()
