"""The demo's chat in headless chromium over TLS HTTP/2, its WebSocket on an
HTTP/2 stream (RFC 8441). tests/browser_h2_websocket.rs runs it.

    python3 tests/browser/h2_chat_test.py https://127.0.0.1:PORT

Two tabs open the page (the demo's self-signed certificate is accepted
with --ignore-certificate-errors); a line said in tab A must show in tab B.
The page must have come over h2, and the chat socket's handshake must be
the HTTP/2 one: chromium reports status 200 for an extended CONNECT, 101
for an HTTP/1.1 upgrade. Exits non-zero with the reason on any failure;
the browser is killed either way.
"""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402


from cdp import check  # noqa: E402


def websocket_handshakes(page):
    """(url, status, response headers) of the page's WebSocket handshakes."""
    urls = {e["params"]["requestId"]: e["params"]["url"] for e in page.events
            if e.get("method") == "Network.webSocketCreated"}
    return [(urls.get(e["params"]["requestId"]), e["params"]["response"]["status"],
             {k.lower(): v for k, v in e["params"]["response"].get("headers", {}).items()})
            for e in page.events if e.get("method") == "Network.webSocketHandshakeResponseReceived"]


async def run(base):
    async with cdp.Browser(extra_flags=["--ignore-certificate-errors"]) as browser:
        a = await browser.new_page(base + "/")
        b = await browser.new_page(base + "/")
        for tab in (a, b):
            await tab.wait_for("document.getElementById('log').textContent.includes('joined the room')")
            pages = tab.responses(base + "/")
            check(pages and pages[0].get("protocol") == "h2", f"the page came over {pages[:1]}")

        line = "over h2 " + secrets.token_hex(4)
        await a.eval(f"document.getElementById('line').value = {json.dumps(line)};"
                     "document.getElementById('form').requestSubmit()")
        await b.wait_for(f"document.getElementById('log').textContent.includes({json.dumps(line)})")
        await a.wait_for(f"document.getElementById('log').textContent.includes({json.dumps(line)})")

        for name, tab in (("A", a), ("B", b)):
            shakes = [s for s in websocket_handshakes(tab) if s[0] and s[0].endswith("/chat")]
            check(shakes, f"tab {name}: no handshake event for /chat")
            url, status, headers = shakes[0]
            check(status == 200, f"tab {name}: the chat socket was not opened over HTTP/2 "
                                 f"(status {status}, headers {headers})")
            check("sec-websocket-accept" not in headers, f"tab {name}: h1 headers {headers}")
        check(not a.exceptions and not b.exceptions, f"page errors: {a.exceptions + b.exceptions}")
        print(f"ok: chat across two tabs over TLS HTTP/2, WebSocket handshake status 200 (RFC 8441)")


def main():
    base = sys.argv[1].rstrip("/")
    cdp.run_test(run(base))


if __name__ == "__main__":
    main()
