"""The application factory."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_service.config import Settings, load_settings
from lti_service.db import (
    make_autocommit_engine,
    make_engine,
    make_session_factory,
    session_scope,
)
from lti_service.logging_setup import configure_logging, current_request_id
from lti_service.lti import keys as tool_keys
from lti_service.lti.login_state import StateCodec
from lti_service.lti.platform_keys import KeyStore
from lti_service.lti.registry import Registry
from lti_service.web import launch_session, security
from lti_service.web.extensions import csrf
from lti_service.web.hot_path import HotPath
from lti_service.web.session_json import PlainJSONSerializer

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> Flask:
    settings = settings or load_settings()
    settings.ensure_instance_dir()
    if configure_logs:
        configure_logging(settings.json_logs, settings.log_level)

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "web" / "static"),
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=settings.resolve_secret_key(),
        SESSION_COOKIE_NAME="qc_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_PARTITIONED=True,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime),
        SESSION_REFRESH_EACH_REQUEST=False,  # re-sign the cookie only when it changed
        WTF_CSRF_TIME_LIMIT=settings.session_lifetime,
        WTF_CSRF_SSL_STRICT=False,  # the Referer is stripped or cross-site inside LMS iframes
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    engine = make_engine(settings.effective_database_url)
    hot_engine = make_autocommit_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    app.extensions["lti_service"] = {
        "settings": settings,
        "engine": engine,
        "hot_engine": hot_engine,
        "session_factory": factory,
        "keys": KeyStore(engine=engine, cache_seconds=settings.jwks_cache_seconds,
                         refetch_interval=settings.jwks_refetch_interval),
        "frame_ancestors": security.FrameAncestors(),
        "registry": Registry(engine, ttl=settings.registration_cache_seconds),
        "state_codec": StateCodec(app.config["SECRET_KEY"]),
        "launch_signer": launch_session.make_signer(app.config["SECRET_KEY"]),
    }
    app.session_interface.serializer = PlainJSONSerializer()  # type: ignore[attr-defined]
    csrf.init_app(app)
    # Quality Development Tool: interface language (Flask-Babel), and the frameworks checked
    # against their XSD before anything serves (a broken file raises FrameworkError).
    from lti_service.assessment import frameworks
    from lti_service.web import i18n

    i18n.init_app(app)
    frameworks.use_directory(settings.frameworks_dir)
    frameworks.registry()
    _register_blueprints(app, settings)
    _register_request_hooks(app, settings)
    _wrap_wsgi(app, settings)
    _startup(app, settings)
    return app


def _wrap_wsgi(app: Flask, settings: Settings) -> None:
    """The launch hot path in front of Flask, and ProxyFix (when configured) in front of all."""
    app.wsgi_app = HotPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if settings.proxy_fix:
        n = settings.proxy_fix
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )


def _register_blueprints(app: Flask, settings: Settings) -> None:
    from lti_service.web import (
        admin,
        console,
        errors,
        facilitator,
        health,
        learner,
        lti,
        registration,
    )

    for module in (lti, registration, console, learner, facilitator, admin, health):
        app.register_blueprint(module.bp)
    errors.register(app)
    if settings.demo_lms:
        from lti_service.demo_lms import views as demo_views

        app.register_blueprint(demo_views.bp)


def _register_request_hooks(app: Flask, settings: Settings) -> None:
    from lti_service.web import context

    extra_frame_origins: list[str] = []
    if settings.demo_lms:
        # The demo LMS may be opened as localhost while the tool is 127.0.0.1 (or the other
        # way round), to make the tool third-party in its iframe as in a real LMS.
        base = settings.effective_base_url
        extra_frame_origins = [
            base.replace("127.0.0.1", "localhost"), base.replace("localhost", "127.0.0.1")
        ]

    @app.before_request
    def _request_id() -> None:
        current_request_id()

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"csp_nonce": security.csp_nonce, "request_id": current_request_id}

    @app.after_request
    def _finish(response: Response) -> Response:
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400 or g.get("commit_despite_error"):
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        response.headers["X-Request-ID"] = current_request_id()
        # Pages get the framing and content policies; redirects (the launch's 302 and 303)
        # have no content to protect and are on the launch's CPU budget.
        if (response.mimetype == "text/html" and not 300 <= response.status_code < 400
                and request.blueprint != "health"):
            origins = context.state()["frame_ancestors"].origins(
                context.session_factory(), extra_frame_origins)
            security.apply_headers(response, origins,
                                   strict_scripts=request.blueprint != "demo_lms")
        return response

    @app.teardown_request
    def _teardown(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def _startup(app: Flask, settings: Settings) -> None:
    """Make the first tool key and the demo registration; needs a migrated database."""
    factory = app.extensions["lti_service"]["session_factory"]
    try:
        with session_scope(factory) as session:
            tool_keys.ensure_key(session, app.config["SECRET_KEY"])
            if settings.demo_lms:
                from lti_service.demo_lms import ensure_demo_registration

                registration = ensure_demo_registration(session, settings)
                # Quality Development Tool: sample cohort in the demo course (once).
                from lti_service.assessment.demo_data import seed_demo_cohort

                seed_demo_cohort(session, registration)
    except (OperationalError, ProgrammingError) as exc:
        log.error("database is not ready: run `lti-service db upgrade` (%s)", exc.orig)
