"""Headless Debian Chromium driven by Selenium, with third-party cookies allowed or blocked,
and a probe that proves which of the two the browser is really in.

Only the system's ``/usr/bin/chromedriver`` is used (given explicitly to ``Service``), so
Selenium Manager never tries to download a browser or a driver. Install both with
``apt-get install chromium chromium-driver``.

Third-party cookies in Chromium 156 (measured with :class:`CookieProbe`): a fresh profile
blocks them; the pref ``profile.cookie_controls_mode`` decides (0 = allow, 1 = block). The
legacy boolean ``profile.block_third_party_cookies=False`` alone does *not* allow them; it is
set consistently anyway. Partitioned (CHIPS) cookies are kept in both modes.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.wrappers import Request, Response

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = (
    "Real-browser tests need Debian's Chromium and its driver: "
    "`apt-get install -y chromium chromium-driver` (as root). CI installs them in .ci/run."
)

ALLOWED = "allowed"
BLOCKED = "blocked"
MODES = (ALLOWED, BLOCKED)

THIRD_PARTY_COOKIE_PREFS: dict[str, dict[str, object]] = {
    ALLOWED: {"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": False},
    BLOCKED: {"profile.cookie_controls_mode": 1, "profile.block_third_party_cookies": True},
}

ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


# --------------------------------------------------------------------------- the browser
def missing() -> list[str]:
    """The executables that are not installed (empty when the browser tests can run)."""
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


def start(third_party_cookies: str, user_data_dir: Path, log_path: Path | None = None
          ) -> WebDriver:
    """A new headless Chromium with a fresh profile in ``user_data_dir``."""
    if third_party_cookies not in THIRD_PARTY_COOKIE_PREFS:
        raise ValueError(f"third_party_cookies must be one of {MODES}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_experimental_option("prefs", THIRD_PARTY_COOKIE_PREFS[third_party_cookies])
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER,
                      log_output=str(log_path) if log_path else None)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    return driver


def all_cookies(driver: WebDriver) -> list[dict[str, object]]:
    """Every cookie in the profile, third-party and partitioned ones included (CDP)."""
    result = driver.execute_cdp_cmd("Storage.getCookies", {})
    cookies: list[dict[str, object]] = result.get("cookies", [])
    return cookies


def clear_cookies(driver: WebDriver) -> None:
    driver.execute_cdp_cmd("Storage.clearCookies", {})


def describe_cookies(driver: WebDriver) -> str:
    lines = [
        f"{c.get('name')} domain={c.get('domain')} path={c.get('path')} "
        f"secure={c.get('secure')} sameSite={c.get('sameSite')} "
        f"partitionKey={c.get('partitionKey')}"
        for c in all_cookies(driver)
    ]
    return "\n".join(lines) or "(no cookies)"


def browser_log(driver: WebDriver) -> str:
    try:
        entries = driver.get_log("browser")
    except Exception as exc:  # diagnostics only: never hide the real failure
        return f"(browser log unavailable: {exc})"
    return "\n".join(f"{e.get('level')} {e.get('message')}" for e in entries) or "(empty)"


# --------------------------------------------------------------------------- the probe
# A tiny WSGI app served on 127.0.0.1:<port>; its /embed page, opened as
# http://localhost:<port> (another site), frames /set or /check, which are then third-party.
#   /set    sets qc_probe_plain (SameSite=None; Secure; NOT partitioned) and
#           qc_probe_partitioned (the same plus Partitioned);
#   /check  shows which of the two came back.
# Allowed: both come back. Blocked: only the partitioned one. The partitioned cookie is the
# positive control: Secure cookies over plain http do work in the frame at all.
PLAIN = "qc_probe_plain"
PARTITIONED = "qc_probe_partitioned"
EXPECTED = {
    ALLOWED: {PLAIN: True, PARTITIONED: True},
    BLOCKED: {PLAIN: False, PARTITIONED: True},
}


def _page(body: str) -> Response:
    return Response(f"<!doctype html><html><head><title>probe</title></head><body>{body}"
                    "</body></html>", mimetype="text/html")


@Request.application
def probe_app(request: Request) -> Response:
    token = request.args.get("token", "")
    if request.path == "/embed":
        src = html.escape(request.args.get("src", ""))
        return _page(f'<iframe id="probe-frame" src="{src}"></iframe>')
    if request.path == "/set":
        response = _page('<p id="done">set</p>')
        for name, partitioned in ((PLAIN, False), (PARTITIONED, True)):
            response.set_cookie(name, token, path="/", secure=True, httponly=True,
                                samesite="None", partitioned=partitioned)
        return response
    if request.path == "/check":
        seen = {name: bool(token) and request.cookies.get(name) == token
                for name in (PLAIN, PARTITIONED)}
        return _page(f'<pre id="result">{html.escape(json.dumps(seen))}</pre>')
    return Response("not found", status=404)


@dataclass
class CookieProbe:
    port: int

    def run(self, driver: WebDriver) -> dict[str, bool]:
        """Set both cookies in a third-party frame, then see which come back on a new page."""
        token = secrets.token_urlsafe(12)
        frame_base = f"http://127.0.0.1:{self.port}"
        top = f"http://localhost:{self.port}/embed?src="
        driver.switch_to.default_content()
        driver.get(f"{top}{frame_base}/set?token={token}")
        self._in_frame(driver, "done")
        driver.get(f"{top}{frame_base}/check?token={token}")
        result = self._in_frame(driver, "result")
        seen: dict[str, bool] = json.loads(result)
        return seen

    @staticmethod
    def _in_frame(driver: WebDriver, element_id: str) -> str:
        wait = WebDriverWait(driver, 10)
        wait.until(ec.frame_to_be_available_and_switch_to_it((By.ID, "probe-frame")))
        text = str(wait.until(ec.presence_of_element_located((By.ID, element_id))).text)
        driver.switch_to.default_content()
        return text

    def prove(self, driver: WebDriver, mode: str) -> dict[str, bool]:
        """Assert the browser is in ``mode``; then forget every cookie (a clean start)."""
        seen = self.run(driver)
        clear_cookies(driver)
        assert seen == EXPECTED[mode], (
            f"the browser is not in third-party cookie mode {mode!r}: the probe saw {seen}, "
            f"expected {EXPECTED[mode]} (prefs {THIRD_PARTY_COOKIE_PREFS[mode]})")
        assert all_cookies(driver) == [], "cookies survived Storage.clearCookies"
        return seen
