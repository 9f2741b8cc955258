"""Liveness and readiness: 200 only when the database answers."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from lti_service.web import context

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        context.db().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unavailable", extra={"error": str(exc)})
        return jsonify({"status": "error", "database": "unavailable"}), 503
    return jsonify({"status": "ok"}), 200
