"""A small Chrome DevTools Protocol driver for Debian's headless chromium.

Reusable by any test: start a fresh browser (its own temporary profile,
killed by PID when the block ends, even on failure), open pages, evaluate
JavaScript, collect network events, take screenshots.

    import asyncio, cdp

    async def main():
        async with cdp.Browser() as browser:
            page = await browser.new_page("http://127.0.0.1:8080/")
            await page.wait_for("document.readyState === 'complete'")
            print(await page.eval("document.title"))
            await page.screenshot("/tmp/page.png")

    asyncio.run(main())

Needs Python `websockets` (pip) and `chromium` (apt); CHROMIUM=/path picks
another binary.
"""

import asyncio
import base64
import ctypes
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import websockets

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--remote-debugging-port=0",
]


class CdpError(Exception):
    """A DevTools command failed, a wait timed out or the browser went away."""


def _die_with_parent():
    """Runs in the child before exec: SIGKILL it when its parent (this
    driver) dies, so a killed test leaves no browser behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()  # its own process group: its helpers are killed with it


class Browser:
    """A headless chromium with a fresh profile, driven over one DevTools
    WebSocket (flattened sessions: every page shares it)."""

    def __init__(self, binary=None, extra_flags=(), window_size=(1024, 900), timeout=20.0):
        self.binary = binary or os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
        self.extra_flags = list(extra_flags)
        self.window_size = window_size
        self.timeout = timeout
        self.proc = None
        self.profile = None
        self.ws = None
        self._ids = itertools.count(1)
        self._pending = {}
        self._listeners = []
        self._reader = None
        self.pid = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def start(self):
        self.profile = tempfile.mkdtemp(prefix="percore-chromium-")
        w, h = self.window_size
        args = [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={w},{h}", *self.extra_flags, "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        try:
            url = await asyncio.wait_for(self._devtools_url(), self.timeout)
            self.ws = await websockets.connect(url, max_size=256 * 1024 * 1024, ping_interval=None)
            self._reader = asyncio.ensure_future(self._read())
        except BaseException:
            await self.close()
            raise

    async def _devtools_url(self):
        """The browser's DevTools WebSocket URL, from its profile's
        DevToolsActivePort file (port, then path)."""
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise CdpError(f"chromium exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
            except FileNotFoundError:
                pass
            await asyncio.sleep(0.05)

    async def close(self):
        """Asks the browser to close, then kills it (and its process group)
        by PID, and removes the profile. Safe to call twice."""
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.send("Browser.close"), 2)
            except BaseException:
                pass
            try:
                await self.ws.close()
            except BaseException:
                pass
            self.ws = None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
            for kill in (lambda: os.kill(self.pid, signal.SIGKILL), lambda: os.killpg(self.pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self._pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        if "error" in msg:
                            fut.set_exception(CdpError(f"{msg['error']}"))
                        else:
                            fut.set_result(msg.get("result", {}))
                else:
                    for listener in list(self._listeners):
                        listener(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(CdpError("the DevTools connection closed"))
            self._pending.clear()

    async def send(self, method, params=None, session=None, timeout=None):
        """Sends one DevTools command and waits for its result."""
        if self.ws is None:
            raise CdpError("browser not started")
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout or self.timeout)

    def listen(self, callback):
        """Calls `callback(message)` for every event of every session."""
        self._listeners.append(callback)

    async def new_page(self, url="about:blank"):
        """A new tab at `url` (Page, Runtime and Network events enabled)."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, target["targetId"], attached["sessionId"])
        await page.enable()
        if url != "about:blank":
            await page.goto(url)
        return page


class Page:
    """One tab: its DevTools session, its events and helpers."""

    def __init__(self, browser, target_id, session):
        self.browser = browser
        self.target_id = target_id
        self.session = session
        self.events = []
        self.exceptions = []
        browser.listen(self._on_event)

    def _on_event(self, msg):
        if msg.get("sessionId") != self.session:
            return
        self.events.append(msg)
        if msg.get("method") == "Runtime.exceptionThrown":
            self.exceptions.append(msg["params"]["exceptionDetails"])

    async def send(self, method, params=None, timeout=None):
        return await self.browser.send(method, params, self.session, timeout)

    async def enable(self):
        for domain in ("Page", "Runtime", "Network"):
            await self.send(f"{domain}.enable")

    async def goto(self, url, timeout=None):
        """Navigates and waits for the load event."""
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        await self.wait_for("document.readyState === 'complete'", timeout=timeout)

    async def eval(self, expression, timeout=None):
        """The value of a JavaScript expression (promises awaited)."""
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "userGesture": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression, timeout=None, interval=0.05):
        """Waits until a JavaScript expression is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out waiting for {expression!r} (last value {value!r})")
            await asyncio.sleep(interval)

    def responses(self, url_part=""):
        """Network.responseReceived events of this page whose URL contains `url_part`."""
        return [e["params"]["response"] for e in self.events
                if e.get("method") == "Network.responseReceived"
                and url_part in e["params"]["response"]["url"]]

    async def screenshot(self, path):
        """Saves a PNG of the viewport at `path`; returns its bytes."""
        result = await self.send("Page.captureScreenshot", {"format": "png"})
        data = base64.b64decode(result["data"])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return data

    async def close(self):
        await self.browser.send("Target.closeTarget", {"targetId": self.target_id})


def check(cond, what):
    """Fails the browser test with `what` unless `cond` holds."""
    if not cond:
        raise AssertionError(what)


def run_test(coro, seconds=90):
    """Runs a browser test's coroutine within `seconds`; a failure prints one
    `FAILED: kind: reason` line to stderr and exits 1."""
    try:
        asyncio.run(asyncio.wait_for(coro, seconds))
    except (AssertionError, CdpError, asyncio.TimeoutError) as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
