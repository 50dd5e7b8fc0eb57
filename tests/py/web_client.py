"""httpx against the web layer: a session across requests (its cookie kept
by httpx's cookie jar), then a multipart upload. Prints "ok" or fails."""
import sys

import httpx

base = sys.argv[1]
with httpx.Client(base_url=base, timeout=20) as c:
    assert c.get("/whoami").text == "nobody"
    r = c.post("/login", data={"user": "grace"})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert c.get("/whoami").text == "grace"
    files = {"doc": ("../../notes.txt", b"x" * 100_000, "text/plain")}
    r = c.post("/upload", data={"note": "hello"}, files=files)
    assert r.status_code == 200, r.text
    assert r.text == "note=hello\ndoc: file notes.txt 100000", r.text
    assert c.post("/logout").text == "bye"
    assert c.get("/whoami").text == "nobody"
print("ok")
