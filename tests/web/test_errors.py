"""Error pages speak the person's language (the browser's, where no launch set one); the log
keeps the English message's code and details."""

from __future__ import annotations

import logging
import re

import pytest
import requests

from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser, parse_form


def error_code(response: requests.Response) -> str:
    """The code on the page, whatever the language of the word "Error" before it."""
    match = re.search(r"<code>([a-z_0-9]+)</code> \(HTTP", response.text)
    return match.group(1) if match else "<none>"


def _client(language: str) -> requests.Session:
    client = browser()
    client.headers["Accept-Language"] = language
    return client


@pytest.mark.parametrize(("language", "says"), [
    ("de-DE,de;q=0.9", "Der Aufruf ist LTI 1.2.0, nicht 1.3.0."),
    ("fr-FR,fr;q=0.9", "Le lancement est en LTI 1.2.0, pas 1.3.0."),
    ("pt-BR", "The launch is LTI 1.2.0, not 1.3.0."),
])
def test_a_refused_launch_is_explained_in_the_browsers_language(
    tool: ToolServer, test_platform: IndependentPlatform, caplog: pytest.LogCaptureFixture,
    language: str, says: str
) -> None:
    caplog.set_level(logging.WARNING)
    version = "https://purl.imsglobal.org/spec/lti/claim/version"
    response = test_platform.launch(_client(language), set={version: "1.2.0"})
    assert response.status_code == 400
    assert error_code(response) == "wrong_version"
    assert says in response.text
    refused = [r for r in caplog.records if r.getMessage() == "lti request refused"
               and getattr(r, "code", "") == "wrong_version"]
    assert refused and refused[-1].version == "1.2.0"  # type: ignore[attr-defined]


def test_a_replayed_launch_is_explained_in_german(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = _client("de")
    _, fields = parse_form(test_platform.authorize(client, user="learner").text)
    first = client.post(tool.base_url + "/lti/launch", data=fields, allow_redirects=False,
                        timeout=30)
    assert first.status_code == 303
    again = client.post(tool.base_url + "/lti/launch", data=fields, allow_redirects=False,
                        timeout=30)
    assert again.status_code == 400 and error_code(again) == "invalid_state"
    assert "Dieser Aufruf wurde schon verwendet." in again.text
    assert "Der Aufruf konnte nicht" not in again.text  # 400 keeps the general title
    assert "Das Tool konnte nicht gestartet werden" in again.text


def test_an_ended_session_is_explained_in_french(tool: ToolServer) -> None:
    page = _client("fr").get(tool.base_url + "/app/c.not-a-launch/", timeout=30)
    assert page.status_code == 401
    assert "Votre session avec l\u2019outil a pris fin ou est introuvable." in page.text
    assert "Non connecté" in page.text
