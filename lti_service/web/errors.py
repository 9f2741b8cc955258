"""Error pages: a clear message, the right status, a log line, JSON for API clients."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lti_service.logging_setup import current_request_id
from lti_service.lti.errors import LaunchError

log = logging.getLogger(__name__)

LAUNCH_TITLES = {
    401: "The launch could not be verified",
    403: "The launch is not allowed",
    404: "Not found",
}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"]


def _render(status: int, title: str, message: str, code: str) -> Response:
    if _wants_json():
        response = jsonify({"error": code, "message": message, "request_id": current_request_id()})
        response.status_code = status
        return response
    html = render_template("errors/error.html", status=status, title=title, message=message,
                           code=code)
    return Response(html, status=status)


def register(app: Flask) -> None:
    @app.errorhandler(LaunchError)
    def _launch_error(err: LaunchError) -> Response:
        log.warning("lti request refused", extra={"code": err.code, "status": err.status,
                                                  "path": request.path, **err.details})
        title = LAUNCH_TITLES.get(err.status, "The tool could not be started")
        return _render(err.status, title, err.message, err.code)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> Response:
        log.warning("csrf check failed", extra={"path": request.path, "reason": err.description})
        return _render(400, "The form has expired",
                       "The form could not be accepted (its security token is missing or "
                       "expired). Reload the page and try again.", "csrf")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        if status >= 500:
            log.error("http error", extra={"status": status, "path": request.path})
        else:
            log.info("http error", extra={"status": status, "path": request.path})
        return _render(status, err.name, err.description or err.name, f"http_{status}")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error", extra={"path": request.path})
        return _render(500, "Something went wrong",
                       "The tool hit an unexpected error. It has been logged; please try "
                       "again, and quote the request id if you report it.", "internal_error")
