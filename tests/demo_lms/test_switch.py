"""The demo LMS is off unless enabled: production never serves a platform."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from lti_service.app import create_app
from lti_service.config import load_settings
from lti_service.migrate import upgrade
from lti_service.models import Registration


def test_the_demo_lms_is_off_by_default(tmp_path: Path) -> None:
    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40)
    upgrade(settings.effective_database_url)
    app = create_app(settings, configure_logs=False)
    assert app.test_client().get("/demo-lms/").status_code == 404
    assert app.test_client().get("/demo-lms/jwks").status_code == 404
    with app.extensions["lti_service"]["session_factory"]() as s:
        assert s.scalars(select(Registration)).all() == []


def test_enabled_it_is_registered_once_however_often_the_app_starts(tmp_path: Path) -> None:
    settings = load_settings(instance_dir=tmp_path, secret_key="s" * 40, demo_lms=True)
    upgrade(settings.effective_database_url)
    for _ in range(2):
        app = create_app(settings, configure_logs=False)
    assert app.test_client().get("/demo-lms/").status_code == 200
    with app.extensions["lti_service"]["session_factory"]() as s:
        [registration] = s.scalars(select(Registration)).all()
        assert registration.issuer == settings.effective_base_url + "/demo-lms"
        assert [d.deployment_id for d in registration.deployments] == ["1"]
