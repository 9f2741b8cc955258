"""Flask extensions shared by the blueprints."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_wtf import CSRFProtect

from lti_service.web.launch_session import TOKEN_PREFIX


class LaunchAwareCSRF(CSRFProtect):
    """Flask-WTF's CSRF check, aware of cookieless launches.

    Where LTI platform storage had to replace cookies, no session cookie exists to hold a
    CSRF token; such requests carry a signed, expiring launch token in the URL path
    (``/app/t.<token>/...``) that a cross-site attacker cannot know, and that token is
    verified by the view. Every other unsafe request gets Flask-WTF's normal check.
    """

    def init_app(self, app: Flask) -> None:
        app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below instead
        super().init_app(app)
        app.before_request(self._check)

    def _check(self) -> None:
        config = current_app.config
        if not config.get("WTF_CSRF_ENABLED", True):
            return
        if request.method not in config.get("WTF_CSRF_METHODS",
                                             {"POST", "PUT", "PATCH", "DELETE"}):
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return
        if request.blueprint in self._exempt_blueprints:
            return
        if f"{view.__module__}.{view.__name__}" in self._exempt_views:
            return
        lid = str((request.view_args or {}).get("lid", ""))
        if lid.startswith(TOKEN_PREFIX):
            return
        self.protect()


csrf = LaunchAwareCSRF()
