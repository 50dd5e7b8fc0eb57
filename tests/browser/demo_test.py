"""Drives the demo page in headless chromium (tests/browser.rs runs it).

    python3 tests/browser/demo_test.py http://127.0.0.1:PORT STATIC_DIR SCREENSHOT.png

Two tabs open the page; one logs in through the page's form (POST /login)
and says a line in the chat, the other must show it; the page's image must
decode, its video must load through a range request (206), a fetch with
Range: bytes=0-99 must get those bytes; a screenshot is saved. Exits
non-zero with the reason on any failure; the browser is killed either way.
"""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402


from cdp import check  # noqa: E402


async def run(base, static_dir, shot):
    async with cdp.Browser() as browser:
        a = await browser.new_page(base + "/")
        b = await browser.new_page(base + "/")
        for tab in (a, b):
            # The chat socket is open (the page logs it).
            await tab.wait_for("document.getElementById('log').textContent.includes('joined the room')")

        # Log in through the form on tab A: its handler POSTs /login.
        await a.eval("document.getElementById('user').value = 'ada';"
                     "document.getElementById('login').requestSubmit()")
        who = await a.wait_for("(t => t.startsWith('logged in') && t)"
                               "(document.getElementById('who').textContent)")
        check(who == "logged in as ada", f"tab A says {who!r}")
        logins = [r for r in a.responses("/login")]
        check(logins and logins[-1]["status"] == 200, f"POST /login answers {logins}")
        # Tab B shares the cookie jar: the session is seen there too.
        check(await b.eval("fetch('/whoami').then(r => r.text())") == "ada", "tab B is not logged in")

        # A line said in tab A shows up in tab B (through the chat room).
        line = "hello from tab A " + secrets.token_hex(4)
        await a.eval(f"document.getElementById('line').value = {json.dumps(line)};"
                     "document.getElementById('form').requestSubmit()")
        await b.wait_for(f"document.getElementById('log').textContent.includes({json.dumps('ada: ' + line)})")
        await a.wait_for(f"document.getElementById('log').textContent.includes({json.dumps(line)})")

        # The page's image from /static/ decoded.
        img = await a.wait_for("(i => i.complete && i.naturalWidth > 0 && [i.src, i.naturalWidth, i.naturalHeight])"
                               "(document.querySelector('img[src^=\"/static/\"]'))")
        check(img[1] > 0 and img[2] > 0, f"image {img}")

        # The page's video loaded through a range request.
        video = await a.wait_for("(v => v.readyState >= 2 && [v.videoWidth, v.videoHeight])"
                                 "(document.querySelector('video'))", timeout=15)
        check(video == [64, 48], f"video size {video}")
        clip = open(os.path.join(static_dir, "clip.webm"), "rb").read()
        media = [r for r in a.responses("/static/clip.webm")]
        check(media, "no response for the video")
        first = media[0]
        headers = {k.lower(): v for k, v in first["headers"].items()}
        check(first["status"] == 206, f"video answered {first['status']} {headers}")
        check(headers.get("content-range", "").endswith(f"/{len(clip)}"), f"video headers {headers}")

        # An explicit range.
        got = await a.eval("""fetch('/static/clip.webm', {headers: {Range: 'bytes=0-99'}, cache: 'no-store'})
            .then(async r => [r.status, r.headers.get('content-range'), Array.from(new Uint8Array(await r.arrayBuffer()))])""")
        check(got[0] == 206, f"ranged fetch status {got[0]}")
        check(got[1] == f"bytes 0-99/{len(clip)}", f"content-range {got[1]!r}")
        check(bytes(got[2]) == clip[:100], "ranged fetch bytes differ from the file")

        check(not a.exceptions and not b.exceptions, f"page errors: {a.exceptions + b.exceptions}")
        await a.eval("document.getElementById('login').scrollIntoView()")
        png = await a.screenshot(shot)
        check(png.startswith(b"\x89PNG") and len(png) > 5000, f"screenshot of {len(png)} bytes")
        print(f"screenshot: {os.path.abspath(shot)}")
        print(f"ok: login, chat across tabs, image {img[1]}x{img[2]}, video {video[0]}x{video[1]} (206), range 0-99")


def main():
    base, static_dir, shot = sys.argv[1:4]
    cdp.run_test(run(base.rstrip("/"), static_dir, shot))


if __name__ == "__main__":
    main()
