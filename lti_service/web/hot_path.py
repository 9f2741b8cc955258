"""The launch's two requests answered as plain WSGI, before Flask.

Every launch is two requests (``/lti/login``, ``POST /lti/launch``), and an LMS sends a
whole class through them at once, at the start of a lesson. Flask's request machinery (the
request and app contexts, Werkzeug's form parser, the session interface, hooks) costs more
CPU than the launch's own work, so this layer answers the successful case itself: it parses
the query or urlencoded body, runs the same steps as the views (``launch_flow.py``) and
sends the redirect with the same cookie and header attributes.

Anything else goes on to Flask untouched: other paths and methods, bodies it leaves to
Werkzeug (multipart, chunked, oversized), pages (LTI platform storage), and every refusal.
A refusal is not recomputed: the exception is handed to the view in the environ under
``HOT_OUTCOME`` and re-raised there, so the error pages, their logging and the cookieless
fallbacks stay in one place, and a launch that spent its nonce is never validated twice.

This is also the outermost layer of the app (inside ProxyFix), so it binds each request's id
for the log lines of every request.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

from werkzeug.http import parse_cookie
from werkzeug.routing import MapAdapter

from lti_service.logging_setup import bind_request_id, current_request_id, unbind_request_id
from lti_service.web.launch_flow import accept_launch, begin_login
from lti_service.web.launch_session import BIND_COOKIE
from lti_service.web.security import cookie_header

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

log = logging.getLogger(__name__)

HOT_OUTCOME = "lti_service.hot_outcome"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000
_ADAPTERS_KEPT = 8
T = TypeVar("T")


class HotPath:
    """WSGI middleware: answers successful logins and launches, hands the rest to ``app``."""

    def __init__(self, flask_app: Flask, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        self.url_map = flask_app.url_map
        self.services: dict[str, Any] = flask_app.extensions["lti_service"]
        self.max_body = int(flask_app.config.get("MAX_CONTENT_LENGTH") or 0)
        self._adapters: dict[str, MapAdapter] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        token = bind_request_id(environ.get("HTTP_X_REQUEST_ID"))
        try:
            answered = self._answer(environ, start_response)
            if answered is not None:
                return answered
            return self.wsgi_app(environ, start_response)
        finally:
            unbind_request_id(token)

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse
                ) -> list[bytes] | None:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/lti/launch" and method == "POST":
            return self._launch(environ, start_response)
        if path == "/lti/login" and method in ("GET", "POST"):
            return self._login(environ, start_response)
        return None

    # ------------------------------------------------------------------ the two requests
    def _login(self, environ: WSGIEnvironment, start_response: StartResponse
               ) -> list[bytes] | None:
        body = self._form_body(environ) if environ["REQUEST_METHOD"] == "POST" else ""
        params = _first_values(environ.get("QUERY_STRING", ""), body)  # as request.values
        if params is None:
            return None
        result = _attempt(environ, begin_login, self.services, params, _browser_id(environ))
        if result is None:
            return None
        if result.storage_target:  # a page, rendered by the view
            environ[HOT_OUTCOME] = result
            return None
        cookie = cookie_header(BIND_COOKIE, result.browser_id,
                               self.services["settings"].session_lifetime)
        return _redirect(start_response, "302 Found", result.redirect_url, cookie)

    def _launch(self, environ: WSGIEnvironment, start_response: StartResponse
                ) -> list[bytes] | None:
        form = _first_values(self._form_body(environ))
        if form is None:
            return None
        accepted = _attempt(environ, accept_launch, self.services, form, _browser_id(environ))
        if accepted is None:
            return None
        location = self._adapter(environ).build(accepted.endpoint, {"lid": accepted.lid})
        return _redirect(start_response, "303 See Other", location, None)

    # ------------------------------------------------------------------ helpers
    def _form_body(self, environ: WSGIEnvironment) -> str | None:
        """The urlencoded body, or None to leave the request to Werkzeug. A body read here is
        put back, so the view can read it again."""
        if not str(environ.get("CONTENT_TYPE", "")).lower().startswith(FORM_TYPE):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if length < 0 or (self.max_body and length > self.max_body):
            return None
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        if len(raw) != length:  # the client went away: let Werkzeug refuse it
            return None
        return raw.decode("utf-8", "replace")

    def _adapter(self, environ: WSGIEnvironment) -> MapAdapter:
        """URL building as Flask's ``url_for`` does it: relative, under the script name."""
        script_name = str(environ.get("SCRIPT_NAME") or "")
        adapter = self._adapters.get(script_name)
        if adapter is None:
            adapter = self.url_map.bind("localhost", script_name=script_name or "/")
            if len(self._adapters) < _ADAPTERS_KEPT:
                self._adapters[script_name] = adapter
        return adapter


def _attempt(environ: WSGIEnvironment, step: Callable[..., T], *args: Any) -> T | None:
    """Run a launch step; a refusal (any exception) is left in the environ for the view,
    which answers it (see the module doc), and None returned."""
    try:
        return step(*args)
    except Exception as exc:
        environ[HOT_OUTCOME] = exc
        return None


def _first_values(*encoded: str | None) -> dict[str, str] | None:
    """Decoded fields, the first value of a repeated name winning (as in Werkzeug's
    MultiDict); None when a part is missing or malformed, to leave it to Werkzeug."""
    fields: dict[str, str] = {}
    for part in encoded:
        if part is None:
            return None
        try:
            pairs = parse_qsl(part, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:
            return None
        for key, value in pairs:
            fields.setdefault(key, value)
    return fields


def _browser_id(environ: WSGIEnvironment) -> str | None:
    header = environ.get("HTTP_COOKIE")
    if not header:
        return None
    value = parse_cookie(header).get(BIND_COOKIE)
    return str(value) if value is not None else None


def _redirect(start_response: StartResponse, status: str, location: str,
              cookie: str | None) -> list[bytes]:
    headers = [("Location", location), ("Content-Type", "text/html; charset=utf-8"),
               ("Content-Length", "0"), ("X-Request-ID", current_request_id())]
    if cookie is not None:
        headers.append(("Set-Cookie", cookie))
    start_response(status, headers)
    return [b""]
