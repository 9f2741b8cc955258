"""Fixtures for the real-browser tests: headless Chromium and the third-party cookie probe.

The probe (``tests/support/chromium.py``, :class:`CookieProbe`) proves, inside the same run
and the same browser, which third-party cookie mode the browser is really in; without it a
"blocked" test could pass while nothing was blocked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from werkzeug.serving import make_server

from tests.support import chromium


@pytest.fixture(scope="session")
def cookie_probe() -> Iterator[chromium.CookieProbe]:
    server = make_server("127.0.0.1", 0, chromium.probe_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield chromium.CookieProbe(port=server.server_port)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def chrome(third_party_cookies: str, tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh headless Chromium (own profile) in the requested third-party cookie mode
    (``third_party_cookies`` comes from the test's parametrization).

    Never skips: a machine without Chromium fails the browser tests (CI must run them).
    """
    absent = chromium.missing()
    if absent:
        pytest.fail(f"{chromium.INSTALL_HINT} Missing: {', '.join(absent)}", pytrace=False)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = chromium.start(third_party_cookies, profile,
                            log_path=tmp_path / "chromedriver.log")
    try:
        yield driver
    finally:
        driver.quit()
