"""The notes_app example driven by real clients: httpx (logins with its
cookie jar, JSON CRUD over fresh connections, a multipart upload) and the
websockets library. argv: BASE_URL UPLOADS_DIR. Prints "ok" or fails."""
import json
import os
import sys

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

base, uploads = sys.argv[1], sys.argv[2]


def fresh(c):
    """A new client (new connections, so maybe another core) with c's cookies."""
    return httpx.Client(base_url=base, timeout=20, cookies=c.cookies)


with httpx.Client(base_url=base, timeout=20) as c:
    assert c.get("/api/notes").status_code == 401
    r = c.post("/api/login", json={"user": "Bad Name"})
    assert r.status_code == 400, r.text
    r = c.post("/api/login", json={"user": "ada"})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert c.get("/api/me").json() == {"user": "ada"}

    # CRUD
    r = c.post("/api/notes", json={"title": "milk", "body": "2 l"})
    assert r.status_code == 201, r.text
    milk = r.json()
    assert milk["title"] == "milk" and milk["body"] == "2 l", milk
    r = c.post("/api/notes", json={"title": "bread"})
    assert r.status_code == 201, r.text
    bread = r.json()
    for _ in range(6):  # every connection, whichever core, sees the same notes
        with fresh(c) as other:
            titles = [n["title"] for n in other.get("/api/notes").json()]
            assert titles == ["milk", "bread"], titles
    r = c.put(f"/api/notes/{milk['id']}", json={"title": "milk", "body": "3 l"})
    assert r.status_code == 200 and r.json()["body"] == "3 l", r.text
    assert c.get(f"/api/notes/{milk['id']}").json()["body"] == "3 l"
    r = c.delete(f"/api/notes/{bread['id']}")
    assert r.status_code == 200 and r.json() == {"deleted": bread["id"]}, r.text
    assert c.get(f"/api/notes/{bread['id']}").status_code == 404
    assert c.put(f"/api/notes/{bread['id']}", json={"title": "x"}).status_code == 404
    assert c.get("/api/notes/abc").status_code == 400
    r = c.post("/api/notes", content=b'{"title": 5}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "invalid type" in r.text, r.text
    assert c.post("/api/notes", content=b"title=x", headers={"content-type": "text/plain"}).status_code == 415
    assert c.request("PATCH", "/api/notes").status_code == 405

    # Another user sees none of it.
    with httpx.Client(base_url=base, timeout=20) as g:
        assert g.post("/api/login", json={"user": "grace"}).status_code == 200
        assert g.get("/api/notes").json() == []

    # An upload, written to disk under a safe name.
    data = os.urandom(3 * 1024 * 1024 + 17)
    files = {"file": ("../../evil.bin", data, "application/octet-stream")}
    r = c.post("/api/files", data={"note": "ignored"}, files=files)
    assert r.status_code == 201, r.text
    assert r.json() == [{"name": "evil.bin", "bytes": len(data)}], r.text
    with open(os.path.join(uploads, "ada", "evil.bin"), "rb") as f:
        assert f.read() == data
    r = c.post("/api/files", data={"note": "no file"})
    assert r.status_code in (400, 415), r.text

    # The WebSocket: with the session cookie it answers, without it 401.
    ws_url = base.replace("http://", "ws://") + "/api/ws"
    sid = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    with connect(ws_url, additional_headers={"Cookie": sid}) as ws:
        for text in ["hello", "second line"]:
            ws.send(text)
            assert json.loads(ws.recv(timeout=10)) == {"user": "ada", "text": text}
    try:
        connect(ws_url).close()
        raise AssertionError("a WebSocket without a login was accepted")
    except InvalidStatus as e:
        assert e.response.status_code == 401, e

    # Logout ends the session.
    assert c.post("/api/logout").status_code == 204
    assert c.get("/api/me").status_code == 401
print("ok")
