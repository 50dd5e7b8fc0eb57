"""aiohttp server for percore's client tests: prints its port, then serves
until killed. Routes: compression, chunked streaming, redirects of every
kind, cross-origin redirects, cookies, JSON."""
import asyncio
import json

from aiohttp import web
from aiohttp.web import ContentCoding

TEXT = "percore client " * 4096


async def hello(request):
    return web.Response(text="hello")


async def compressed(request):
    resp = web.Response(text=TEXT)
    coding = request.match_info.get("coding")
    resp.enable_compression(ContentCoding(coding) if coding else None)
    return resp


async def stream(request):
    resp = web.StreamResponse()
    await resp.prepare(request)
    for i in range(100):
        await resp.write(f"{i:03}\n".encode())
    await resp.write_eof()
    return resp


async def redirect(request):
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(text="done")
    raise web.HTTPFound(f"/redirect/{n - 1}")


async def see_other(request):
    await request.read()
    raise web.HTTPSeeOther("/method")


async def temporary(request):
    await request.read()
    raise web.HTTPTemporaryRedirect("/method")


async def method(request):
    body = await request.text()
    return web.Response(text=f"{request.method} {body}")


async def cross(request):
    port = request.url.port
    raise web.HTTPFound(f"http://localhost:{port}/headers")


async def headers(request):
    keep = {k.lower(): v for k, v in request.headers.items()}
    return web.json_response(keep)


async def set_cookie(request):
    resp = web.Response(text="set")
    resp.set_cookie("session", "abc123", path="/")
    return resp


async def main():
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/compressed/{coding}", compressed)
    app.router.add_get("/stream", stream)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_post("/see-other", see_other)
    app.router.add_post("/temporary", temporary)
    app.router.add_route("*", "/method", method)
    app.router.add_get("/cross", cross)
    app.router.add_get("/headers", headers)
    app.router.add_get("/set-cookie", set_cookie)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
