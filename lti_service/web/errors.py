"""Error pages: a clear message, the right status, a log line, JSON for API clients."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lti_service.assessment.errors import N_
from lti_service.logging_setup import current_request_id
from lti_service.lti.errors import LaunchError

log = logging.getLogger(__name__)

LAUNCH_TITLES = {
    401: N_("The launch could not be verified"),
    403: N_("The launch is not allowed"),
    404: N_("Not found"),
}
LAUNCH_TITLE = N_("The tool could not be started")
# Titles, and texts for errors raised without a description of our own (Werkzeug's are
# English only).
HTTP_TITLES = {
    400: N_("Bad request"), 401: N_("Not signed in"), 403: N_("Not allowed"),
    404: N_("Not found"), 405: N_("Not allowed"), 413: N_("Too large"),
    429: N_("Too many requests"), 500: N_("Something went wrong"),
    502: N_("The LMS did not answer"), 503: N_("Not available"),
}
HTTP_TEXTS = {
    400: N_("The request could not be understood."),
    401: N_("Your session with the tool has ended or was not found. Open the tool again "
            "from your course."),
    403: N_("You are not allowed to open this page."),
    404: N_("This page does not exist, or is not yours to see."),
    405: N_("This page cannot be used this way."),
    413: N_("What was sent is larger than the tool accepts."),
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
        title = gettext(LAUNCH_TITLES.get(err.status, LAUNCH_TITLE))
        return _render(err.status, title, gettext(err.template, **err.details), err.code)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> Response:
        log.warning("csrf check failed", extra={"path": request.path, "reason": err.description})
        return _render(400, gettext("The form has expired"),
                       gettext("The form could not be accepted (its security token is missing "
                               "or expired). Reload the page and try again."), "csrf")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        if status >= 500:
            log.error("http error", extra={"status": status, "path": request.path})
        else:
            log.info("http error", extra={"status": status, "path": request.path})
        title = gettext(HTTP_TITLES[status]) if status in HTTP_TITLES else err.name
        text = err.description
        if not text or text == type(err).description:  # Werkzeug's own, in English
            text = gettext(HTTP_TEXTS[status]) if status in HTTP_TEXTS else (text or title)
        return _render(status, title, text, f"http_{status}")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error", extra={"path": request.path})
        return _render(500, gettext("Something went wrong"),
                       gettext("The tool hit an unexpected error. It has been logged; please "
                               "try again, and quote the request id if you report it."),
                       "internal_error")
