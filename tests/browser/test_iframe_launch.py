"""Acceptance: a learner launch from an LMS on another site completes inside its iframe,
in headless Chromium, with third-party cookies allowed and with them blocked.

The demo LMS is opened as ``http://localhost:<port>`` while the tool's base URL is
``http://127.0.0.1:<port>``: the launch (login → platform auth → POST /lti/launch → learner
home) runs in an iframe of another site, so every tool cookie is third-party. The cookie
probe (``conftest.py``) first proves, in the same browser, that the mode is what it claims.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ToolServer
from tests.support import chromium

LEARNER_PATH = re.compile(r"^/app/.+/learner$")
FRAME = "tool-frame"


def _frame_state(driver: WebDriver) -> tuple[str, str]:
    """(URL, first h1 text) of the tool frame, read from inside it."""
    driver.switch_to.default_content()
    driver.switch_to.frame(FRAME)
    url = str(driver.execute_script("return window.location.href"))
    headings = driver.find_elements(By.TAG_NAME, "h1")
    return url, (headings[0].text.strip() if headings else "")


def _learner_home_shown(driver: WebDriver) -> tuple[str, str] | Literal[False]:
    try:
        url, h1 = _frame_state(driver)
    except WebDriverException:
        return False  # the frame is between two documents
    if LEARNER_PATH.match(urlsplit(url).path) and h1:
        return url, h1
    return False


def _diagnostics(driver: WebDriver) -> str:
    parts = []
    try:
        driver.switch_to.default_content()
        parts.append(f"top URL: {driver.current_url}")
        driver.switch_to.frame(FRAME)
        parts.append(f"frame URL: {driver.execute_script('return window.location.href')}")
        parts.append("frame page source:\n" + driver.page_source[:6000])
    except WebDriverException as exc:
        parts.append(f"(frame unreadable: {exc.msg})")
    finally:
        driver.switch_to.default_content()
    try:
        parts.append("cookies:\n" + chromium.describe_cookies(driver))
    except WebDriverException as exc:
        parts.append(f"(cookies unreadable: {exc.msg})")
    parts.append("browser log:\n" + chromium.browser_log(driver))
    return "\n".join(parts)


@pytest.mark.browser
@pytest.mark.timeout(90)
@pytest.mark.parametrize("third_party_cookies", chromium.MODES)
def test_learner_launch_completes_inside_cross_site_iframe(
    third_party_cookies: str, chrome: WebDriver, cookie_probe: chromium.CookieProbe,
    tool: ToolServer, tmp_path: Path, record_property: Callable[[str, object], None],
) -> None:
    started = time.monotonic()
    seen = cookie_probe.prove(chrome, third_party_cookies)
    record_property("cookie_probe", seen)

    tool_url = urlsplit(tool.base_url)
    assert tool_url.hostname == "127.0.0.1", tool.base_url
    lms_page = f"http://localhost:{tool_url.port}/demo-lms/launch?user=learner"
    launch_started = time.monotonic()
    # get() returns once the frame's documents have loaded; when still loading after 20 s,
    # the wait below reports what the frame shows.
    with contextlib.suppress(TimeoutException):
        chrome.get(lms_page)
    frame_src = chrome.find_element(By.ID, FRAME).get_attribute("src") or ""
    assert urlsplit(frame_src).hostname == "127.0.0.1", (
        f"the tool frame must be on another site than the LMS page: {frame_src}")
    try:
        url, h1 = WebDriverWait(chrome, 20, poll_frequency=0.2).until(_learner_home_shown)
    except TimeoutException:
        url, h1 = "", ""
    launch_seconds = time.monotonic() - launch_started
    chrome.switch_to.default_content()
    screenshot = tmp_path / f"learner-launch-3pc-{third_party_cookies}.png"
    chrome.save_screenshot(str(screenshot))
    record_property("launch_seconds", round(launch_seconds, 2))
    record_property("screenshot", str(screenshot))
    record_property("frame_url", url)
    record_property("cookies", chromium.describe_cookies(chrome))

    context = (f"third-party cookies {third_party_cookies}, probe {seen}, "
               f"screenshot {screenshot}\n")
    assert url, (context + "the learner home never appeared in the tool frame within 20 s\n"
                 + _diagnostics(chrome))
    assert h1.startswith("Welcome"), context + f"h1 was {h1!r}\n" + _diagnostics(chrome)
    assert urlsplit(url).hostname == "127.0.0.1", url
    assert urlsplit(chrome.current_url).hostname == "localhost", chrome.current_url
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"probe and launch took {elapsed:.1f} s"
