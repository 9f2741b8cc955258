"""A fault-injecting LTI Advantage platform (AGS + NRPS + OAuth token), run as its own process.

It shares no code with the tool: written from the AGS 2.0 / NRPS 2.0 specs with Moodle 4.5's
rules (``?type_id=`` in line item URLs, 409 for a score whose timestamp is not newer in whole
seconds, ``scoreGiven`` kept only when FullyGraded, NRPS paging with ``limit`` and a
case-sensitive ``rel="next"`` link). It keeps a log of every score it *accepted* and every
one it refused, which tests read to prove exactly-once, in-order delivery.

Faults are steered over HTTP (``POST /control/faults``): a list of rules, each consumed by
the next matching requests::

    {"rules": [{"match": "scores", "fault": "500", "count": 2}, ...]}

``match``: ``scores``, ``token``, ``lineitems`` (container and items), ``memberships`` or
``any``. ``fault``:

* ``500`` / ``503-html`` / ``502-html``: an error (JSON, or an HTML error page);
* ``429:N``: Too Many Requests with ``Retry-After: N``;
* ``401``: the access token is refused (once per rule count);
* ``409``: refused as not newer, without storing; ``400``: refused for good;
* ``timeout``: the platform *stores the score* but answers only after ``--stall`` seconds
  (longer than the tool's timeout), so the tool cannot know it arrived;
* ``stall``: waits ``--stall`` seconds, then 500 without storing;
* ``accept-then-500``: stores the score, then answers 500 (the reply is lost);
* ``garbage``: 200 with a body that is not JSON; ``html``: 200 with an HTML page.

``POST /control/down {"seconds": S}`` closes the listening socket and every open connection
for S seconds (connection refused), then listens again on the same port.

Run: python tests/support/ags_platform.py --jwks-url URL | --jwks-file PATH
     [--latency 0.05] [--token-lifetime 3600] [--stall 2] [--port 0]
It prints ``READY <base url>`` once it listens.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import secrets
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt

CLIENT_ID = "ags-client-1"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES = {AGS + "lineitem", AGS + "lineitem.readonly", AGS + "result.readonly",
          AGS + "score", NRPS_SCOPE}
TYPE_ID = "7"
CURSOR = "NextPage-AbC"
ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}


class State:
    def __init__(self, base: str, args: argparse.Namespace) -> None:
        self.base = base
        self.args = args
        self.lock = threading.Lock()
        self.keys: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tokens: dict[str, tuple[float, set[str]]] = {}
            self.line_items: dict[int, dict[str, Any]] = {}
            self.grades: dict[tuple[int, str], dict[str, Any]] = {}
            self.accepted: list[dict[str, Any]] = []
            self.refused: list[dict[str, Any]] = []
            self.rules: list[dict[str, Any]] = []
            self.token_requests = 0
            self.requests: dict[str, int] = {}
            self.connections = 0
            self.members = int(self.args.members)
            self.in_flight: dict[tuple[int, str], int] = {}
            self.max_parallel_per_key = 0
            self.faults: list[dict[str, Any]] = []
            self.latency = float(self.args.latency)
            self.token_lifetime = float(self.args.token_lifetime)

    # ---- keys of the tool (client assertion) ----------------------------------------------
    def tool_key(self, kid: str) -> Any:
        if kid not in self.keys:
            if self.args.jwks_file:
                data = json.loads(Path(self.args.jwks_file).read_text())
            else:
                with urllib.request.urlopen(self.args.jwks_url, timeout=5) as r:
                    data = json.loads(r.read())
            for jwk in data.get("keys", []):
                self.keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
        return self.keys.get(kid)

    def take_fault(self, kind: str) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule["count"] > 0 and rule["match"] in (kind, "any"):
                    rule["count"] -= 1
                    self.faults.append({"kind": kind, "fault": rule["fault"],
                                        "at": time.time()})
                    return str(rule["fault"])
        return None


# ---- HTTP helpers ------------------------------------------------------------------------
def respond(start_response: Any, status: str, body: Any = b"",
            ctype: str = "application/json", headers: list[tuple[str, str]] | None = None
            ) -> list[bytes]:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data))),
                            *(headers or [])])
    return [data]


HTML_ERROR = (b"<!doctype html><html><head><title>502 Bad Gateway</title></head><body>"
              b"<h1>Bad Gateway</h1><p>The proxy received an invalid response.</p></body></html>")


def fault_reply(fault: str, start_response: Any) -> list[bytes] | None:
    """The reply for faults that answer before anything is processed (else None)."""
    if fault == "500":
        return respond(start_response, "500 Internal Server Error", {"error": "boom"})
    if fault in ("503-html", "502-html"):
        status = "503 Service Unavailable" if fault == "503-html" else "502 Bad Gateway"
        return respond(start_response, status, HTML_ERROR, "text/html")
    if fault.startswith("429"):
        wait = fault.partition(":")[2] or "1"
        return respond(start_response, "429 Too Many Requests", {"error": "slow down"},
                       headers=[("Retry-After", wait)])
    if fault == "401":
        return respond(start_response, "401 Unauthorized", {"error": "invalid_token"})
    if fault == "409":
        return respond(start_response, "409 Conflict", {"error": "not newer"})
    if fault == "400":
        return respond(start_response, "400 Bad Request",
                       {"error": "invalid_request", "reason": "userId is not enrolled"})
    if fault == "garbage":
        return respond(start_response, "200 OK", b'{"access_token": "abc", oops', )
    if fault == "html":
        return respond(start_response, "200 OK", HTML_ERROR, "text/html")
    return None


def app_factory(state: State) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if path.startswith("/control/"):
            return control(state, path, method, raw, start_response)
        with state.lock:
            state.requests[path] = state.requests.get(path, 0) + 1
        if state.latency:
            time.sleep(state.latency)
        if path == "/token" and method == "POST":
            return token(state, raw, start_response)
        kind = ("memberships" if path.startswith("/memberships") else
                "scores" if path.endswith("/scores") else
                "lineitems" if path.startswith("/lineitems") else "other")
        fault = state.take_fault(kind)
        if fault in ("stall",):
            time.sleep(state.args.stall)
            return respond(start_response, "500 Internal Server Error", {"error": "stalled"})
        if fault:
            early = fault_reply(fault, start_response)
            if early is not None:
                return early
        scopes = bearer(state, environ)
        if scopes is None:
            return respond(start_response, "401 Unauthorized", {"error": "invalid_token"})
        if path == "/lineitems":
            return container(state, method, query, raw, scopes, start_response)
        if path.startswith("/lineitems/") and path.endswith("/lineitem/scores"):
            reply = score(state, path, query, environ, raw, scopes, fault)
            if fault == "timeout":
                time.sleep(state.args.stall)
            if fault == "accept-then-500":
                return respond(start_response, "500 Internal Server Error", {"error": "lost"})
            return respond(start_response, *reply)
        if path.startswith("/lineitems/") and path.endswith("/lineitem"):
            return line_item(state, path, query, scopes, start_response)
        if path == "/memberships":
            return memberships(state, query, scopes, start_response)
        return respond(start_response, "404 Not Found", {"error": "no such endpoint"})

    return app


def bearer(state: State, environ: dict[str, Any]) -> set[str] | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    with state.lock:
        entry = state.tokens.get(token)
    if entry is None or entry[0] < time.time():
        return None
    return entry[1]


def token(state: State, raw: bytes, start_response: Any) -> list[bytes]:
    with state.lock:
        state.token_requests += 1
    fault = state.take_fault("token")
    if fault:
        early = fault_reply(fault, start_response)
        if early is not None:
            return early
    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    if form.get("grant_type") != "client_credentials":
        return respond(start_response, "400 Bad Request", {"error": "unsupported_grant_type"})
    assertion = form.get("client_assertion", "")
    try:
        kid = jwt.get_unverified_header(assertion).get("kid", "")
        key = state.tool_key(kid)
        if key is None:
            raise jwt.InvalidTokenError(f"unknown kid {kid}")
        claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=state.base + "/token",
                            issuer=CLIENT_ID, leeway=5)
        if claims.get("sub") != CLIENT_ID or not claims.get("jti"):
            raise jwt.InvalidTokenError("sub or jti")
    except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError) as exc:
        return respond(start_response, "401 Unauthorized",
                       {"error": "invalid_client", "error_description": str(exc)})
    granted = set(form.get("scope", "").split()) & SCOPES
    if not granted:
        return respond(start_response, "400 Bad Request", {"error": "invalid_scope"})
    value = secrets.token_urlsafe(24)
    lifetime = state.token_lifetime
    with state.lock:
        state.tokens[value] = (time.time() + lifetime, granted)
    return respond(start_response, "200 OK", {"access_token": value, "token_type": "Bearer",
                                              "expires_in": int(lifetime),
                                              "scope": " ".join(sorted(granted))})


def item_url(state: State, item_id: int) -> str:
    return f"{state.base}/lineitems/{item_id}/lineitem?type_id={TYPE_ID}"


def item_json(state: State, item: dict[str, Any]) -> dict[str, Any]:
    body = {"id": item_url(state, item["n"]), "label": item["label"],
            "scoreMaximum": item["scoreMaximum"]}
    for key in ("tag", "resourceId", "resourceLinkId"):
        if item.get(key):
            body[key] = item[key]
    return body


def new_item(state: State, data: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        n = len(state.line_items) + 1
        item = {"n": n, "label": data["label"], "scoreMaximum": data["scoreMaximum"],
                "tag": data.get("tag"), "resourceId": data.get("resourceId"),
                "resourceLinkId": data.get("resourceLinkId")}
        state.line_items[n] = item
    return item


def container(state: State, method: str, query: dict[str, str], raw: bytes,
              scopes: set[str], start_response: Any) -> list[bytes]:
    if method == "POST":
        if AGS + "lineitem" not in scopes:
            return respond(start_response, "403 Forbidden", {"error": "scope"})
        data = json.loads(raw or b"{}")
        if not data.get("label") or not data.get("scoreMaximum"):
            return respond(start_response, "400 Bad Request", {"error": "label, scoreMaximum"})
        item = new_item(state, data)
        return respond(start_response, "201 Created", item_json(state, item),
                       "application/vnd.ims.lis.v2.lineitem+json")
    if not scopes & {AGS + "lineitem", AGS + "lineitem.readonly"}:
        return respond(start_response, "403 Forbidden", {"error": "scope"})
    with state.lock:
        items = sorted(state.line_items.values(), key=lambda i: i["n"])
    for arg, key in (("tag", "tag"), ("resource_id", "resourceId"),
                     ("resource_link_id", "resourceLinkId")):
        if arg in query:
            items = [i for i in items if i.get(key) == query[arg]]
    page, next_url = paginate(state, items, query, "/lineitems")
    headers = [("Link", f'<{next_url}>; rel="next"')] if next_url else []
    return respond(start_response, "200 OK", [item_json(state, i) for i in page],
                   "application/vnd.ims.lis.v2.lineitemcontainer+json", headers)


def paginate(state: State, rows: list[Any], query: dict[str, str], path: str
             ) -> tuple[list[Any], str | None]:
    if "limit" not in query:
        return rows, None
    limit = max(1, int(query["limit"]))
    offset = int(query.get("Offset", "0"))
    if offset and query.get("Cursor") != CURSOR:
        raise ValueError("bad cursor")
    page = rows[offset:offset + limit]
    if offset + limit >= len(rows):
        return page, None
    rest = {k: v for k, v in query.items() if k not in ("limit", "Offset", "Cursor")}
    return page, f"{state.base}{path}?" + urlencode(
        {**rest, "limit": limit, "Offset": offset + limit, "Cursor": CURSOR})


def _item_id(path: str, query: dict[str, str]) -> int | None:
    parts = path.strip("/").split("/")
    if len(parts) < 3 or not parts[1].isdigit() or query.get("type_id") != TYPE_ID:
        return None
    return int(parts[1])


def line_item(state: State, path: str, query: dict[str, str], scopes: set[str],
              start_response: Any) -> list[bytes]:
    item_id = _item_id(path, query)
    with state.lock:
        item = state.line_items.get(item_id or -1)
    if item is None:
        return respond(start_response, "404 Not Found", {"error": "no such line item"})
    return respond(start_response, "200 OK", item_json(state, item),
                   "application/vnd.ims.lis.v2.lineitem+json")


def score(state: State, path: str, query: dict[str, str], environ: dict[str, Any],
          raw: bytes, scopes: set[str], fault: str | None) -> tuple[str, Any]:
    if AGS + "score" not in scopes:
        return "403 Forbidden", {"error": "scope"}
    item_id = _item_id(path, query)
    if item_id is None or item_id not in state.line_items:
        return "404 Not Found", {"error": "no such line item (type_id?)"}
    if environ.get("CONTENT_TYPE", "").split(";")[0] != "application/vnd.ims.lis.v1.score+json":
        return "400 Bad Request", {"error": "content type"}
    try:
        data = json.loads(raw)
        seconds = int(dt.datetime.fromisoformat(data["timestamp"]).timestamp())
        user = str(data["userId"])
        if data["activityProgress"] not in ACTIVITY or data["gradingProgress"] not in GRADING:
            raise ValueError("progress")
    except (ValueError, KeyError, TypeError):
        return "400 Bad Request", {"error": "bad score"}
    key = (item_id, user)
    entry = {"line_item": item_id, "userId": user, "seconds": seconds,
             "timestamp": data["timestamp"], "scoreGiven": data.get("scoreGiven"),
             "scoreMaximum": data.get("scoreMaximum"), "comment": data.get("comment"),
             "activityProgress": data["activityProgress"],
             "gradingProgress": data["gradingProgress"], "received_at": time.time(),
             "fault": fault}
    with state.lock:
        state.in_flight[key] = state.in_flight.get(key, 0) + 1
        state.max_parallel_per_key = max(state.max_parallel_per_key, state.in_flight[key])
    try:
        if state.args.overlap_window:  # widen the window in which two sends would overlap
            time.sleep(state.args.overlap_window)
        with state.lock:
            current = state.grades.get(key)
            if current is not None and seconds <= current["seconds"]:
                state.refused.append(entry)
                return "409 Conflict", {"error": "timestamp not newer (whole seconds)"}
            kept = dict(entry)
            if data["gradingProgress"] != "FullyGraded":
                kept["scoreGiven"] = None
            state.grades[key] = kept
            state.accepted.append(entry)
    finally:
        with state.lock:
            state.in_flight[key] -= 1
    return "200 OK", b""


def memberships(state: State, query: dict[str, str], scopes: set[str],
                start_response: Any) -> list[bytes]:
    if NRPS_SCOPE not in scopes:
        return respond(start_response, "403 Forbidden", {"error": "scope"})
    members = [{"status": "Active", "user_id": f"member-{i}", "name": f"Member {i}",
                "given_name": "Member", "family_name": f"{i:04d}",
                "roles": ["Learner"] if i % 5 else [
                    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]}
               for i in range(1, state.members + 1)]
    try:
        page, next_url = paginate(state, members, query, "/memberships")
    except ValueError:
        return respond(start_response, "400 Bad Request", {"error": "bad cursor"})
    headers = [("Link", f'<{next_url}>; rel="next"')] if next_url else []
    return respond(start_response, "200 OK",
                   {"id": f"{state.base}/memberships", "context": {"id": "c1"},
                    "members": page},
                   "application/vnd.ims.lti-nrps.v2.membershipcontainer+json", headers)


def control(state: State, path: str, method: str, raw: bytes, start_response: Any
            ) -> list[bytes]:
    body = json.loads(raw or b"{}")
    if path == "/control/faults" and method == "POST":
        with state.lock:
            state.rules.extend({"match": r.get("match", "any"), "fault": str(r["fault"]),
                                "count": int(r.get("count", 1))} for r in body["rules"])
        return respond(start_response, "200 OK", {"ok": True})
    if path == "/control/reset" and method == "POST":
        state.reset()
        if "members" in body:
            state.members = int(body["members"])
        if "latency" in body:
            state.latency = float(body["latency"])
        if "token_lifetime" in body:
            state.token_lifetime = float(body["token_lifetime"])
        return respond(start_response, "200 OK", {"ok": True})
    if path == "/control/clear-faults" and method == "POST":
        with state.lock:
            state.rules.clear()
        return respond(start_response, "200 OK", {"ok": True})
    if path == "/control/lineitem" and method == "POST":
        item = new_item(state, body)
        return respond(start_response, "200 OK", item_json(state, item))
    if path == "/control/log":
        with state.lock:
            return respond(start_response, "200 OK", {
                "accepted": state.accepted, "refused": state.refused,
                "line_items": [item_json(state, i) for i in state.line_items.values()],
                "token_requests": state.token_requests, "requests": state.requests,
                "connections": state.connections,
                "max_parallel_per_key": state.max_parallel_per_key,
                "faults": state.faults,
                "rules_left": sum(r["count"] for r in state.rules)})
    if path == "/control/down" and method == "POST":
        threading.Thread(target=SERVER.go_down, args=(float(body.get("seconds", 2)),),
                         daemon=True).start()
        return respond(start_response, "200 OK", {"ok": True})
    return respond(start_response, "404 Not Found", {"error": "no such control"})


class Handler(BaseHTTPRequestHandler):
    """A WSGI bridge on http.server with HTTP/1.1 keep-alive (werkzeug's development server
    closes every connection). Every reply has a Content-Length; request bodies are read to
    their Content-Length, so the next request on the connection parses cleanly."""

    protocol_version = "HTTP/1.1"
    owner: Server

    def handle(self) -> None:
        owner = self.owner
        with owner.lock:
            owner.conns.add(self.connection)
            owner.state.connections += 1
        try:
            super().handle()
        except OSError:
            pass
        finally:
            with owner.lock:
                owner.conns.discard(self.connection)

    def _wsgi(self) -> None:
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_LENGTH": self.headers.get("Content-Length", "0"),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "HTTP_AUTHORIZATION": self.headers.get("Authorization", ""),
            "wsgi.input": self.rfile,
        }
        status_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            status_headers[:] = [status, headers]

        try:
            body = b"".join(self.owner.app(environ, start_response))
        except Exception as exc:  # the platform's own bug: answer 500, keep serving
            status_headers[:] = ["500 Internal Server Error",
                                 [("Content-Type", "text/plain")]]
            body = repr(exc).encode()
        status, headers = status_headers
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = _wsgi

    def log_message(self, *args: Any) -> None:
        pass


class Server:
    """The listening server, which can go down (connection refused) and come back."""

    def __init__(self, state: State, port: int) -> None:
        self.state = state
        self.port = port
        self.app = app_factory(state)
        self.lock = threading.Lock()
        self.conns: set[socket.socket] = set()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        handler = type("BoundHandler", (Handler,), {"owner": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def go_down(self, seconds: float) -> None:
        time.sleep(0.2)  # let the reply to /control/down leave first
        server = self.server
        assert server is not None
        server.shutdown()
        server.server_close()
        with self.lock:
            for conn in list(self.conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        time.sleep(seconds)
        for _ in range(50):
            try:
                self.start()
                return
            except OSError:  # the port is not free yet
                time.sleep(0.1)


SERVER: Server


def main() -> None:
    global SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--jwks-url")
    parser.add_argument("--jwks-file")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument("--stall", type=float, default=2.0)
    parser.add_argument("--members", type=int, default=7)
    parser.add_argument("--overlap-window", type=float, default=0.002)
    args = parser.parse_args()
    probe = socket.socket()
    probe.bind(("127.0.0.1", args.port))
    port = probe.getsockname()[1]
    probe.close()
    state = State(f"http://127.0.0.1:{port}", args)
    SERVER = Server(state, port)
    print(f"READY {state.base}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
