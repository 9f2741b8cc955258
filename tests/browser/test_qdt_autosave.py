"""Autosave in a real browser (headless Chromium): typed text survives a reload, an ended
session and a second tab; the later save wins visibly and the other tab keeps its text.

The learner launches from the independent test platform in a top-level tab (the iframe
case is covered by ``test_iframe_launch.py``); the server's view of each answer is read
from the database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lti_service.models import CriterionAnswer
from tests.conftest import IndependentPlatform, ToolServer
from tests.support import chromium

SAVED = "All changes saved"


def _launch(chrome: WebDriver, tool: ToolServer, platform: IndependentPlatform,
            sub: str, course: str) -> None:
    chrome.get(platform.login_url(
        sub=sub, context=course, user="learner",
        target_link_uri=f"{tool.base_url}/lti/launch/qdt/mobility"))
    WebDriverWait(chrome, 20).until(lambda d: re.search(r"/qdt/mobility$", d.current_url))


def _wait(chrome: WebDriver, test: Callable[[WebDriver], Any], what: str,
          timeout: float = 10) -> Any:
    try:
        return WebDriverWait(chrome, timeout, poll_frequency=0.1).until(test)
    except Exception as exc:  # diagnostics for any wait that fails
        raise AssertionError(f"{what}; status: {_status(chrome)!r}\n"
                             f"{chromium.browser_log(chrome)}") from exc


def _status(chrome: WebDriver) -> str:
    found = chrome.find_elements(By.ID, "qdt-status")
    return found[0].text if found else "(no status)"


def _stored(tool: ToolServer, aid: int, criterion: str) -> CriterionAnswer | None:
    with tool.session() as s:
        return s.query(CriterionAnswer).filter_by(assessment_id=aid,
                                                  criterion_id=criterion).one_or_none()


def _comment(chrome: WebDriver, criterion: str) -> Any:
    return chrome.find_element(By.ID, f"comment-{criterion}")


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.parametrize("third_party_cookies", [chromium.ALLOWED])
def test_autosave_survives_reload_session_end_and_a_second_tab(
    third_party_cookies: str, chrome: WebDriver, tool: ToolServer,
    test_platform: IndependentPlatform,
) -> None:
    sub, course = f"browser-{uuid.uuid4().hex[:6]}", f"course-{uuid.uuid4().hex[:6]}"
    _launch(chrome, tool, test_platform, sub, course)
    chrome.find_element(By.XPATH, "//button[contains(., 'Start the assessment')]").click()
    _wait(chrome, lambda d: "/area/A" in d.current_url, "the first area did not open")
    aid = int(re.search(r"/assessment/(\d+)/", chrome.current_url).group(1))  # type: ignore[union-attr]
    area_url = chrome.current_url

    # 1. typing is saved on its own, with the level chosen by keyboard
    radio = chrome.find_element(By.CSS_SELECTOR, "input[name='level-A1'][value='2']")
    radio.send_keys(" ")
    _comment(chrome, "A1").send_keys("Plan adopted in 2024")
    _wait(chrome, lambda d: SAVED in _status(d), "the first answer was not saved")
    stored = _stored(tool, aid, "A1")
    assert stored is not None and (stored.level, stored.comment) == (2, "Plan adopted in 2024")

    # 2. a reload right after typing (before the autosave pause) loses nothing
    _comment(chrome, "A2").send_keys("typed just before the reload")
    chrome.refresh()
    _wait(chrome, lambda d: _comment(d, "A2").get_attribute("value")
          == "typed just before the reload", "the text was not there after the reload")
    _wait(chrome, lambda d: (a := _stored(tool, aid, "A2")) is not None
          and a.comment == "typed just before the reload", "the reloaded text was not saved")

    # 3. the session ends (cookies gone): the text stays in the browser, and is saved
    #    by the page after the next launch from the course
    chromium.clear_cookies(chrome)
    _comment(chrome, "A3").send_keys("typed after the session ended")
    _wait(chrome, lambda d: "session has ended" in _status(d),
          "the page did not say that the session ended")
    assert _stored(tool, aid, "A3") is None
    _launch(chrome, tool, test_platform, sub, course)
    lid = re.search(r"/app/([^/]+)/", chrome.current_url).group(1)  # type: ignore[union-attr]
    area_url = re.sub(r"/app/[^/]+/", f"/app/{lid}/", area_url)
    chrome.get(area_url)
    _wait(chrome, lambda d: (a := _stored(tool, aid, "A3")) is not None
          and a.comment == "typed after the session ended",
          "the text kept in the browser was not saved after the new launch")

    # 4. another tab saves A4 while this page still shows it unsaved (version 0): this
    #    tab's later save is refused, the newer answer is kept and shown, and this tab's
    #    own text is shown beside it to copy (the other tab is an HTTP client with this
    #    browser's cookies, so that the page cannot learn about it before it saves)
    other = requests.Session()
    for cookie in chromium.all_cookies(chrome):
        other.cookies.set(str(cookie["name"]), str(cookie["value"]),
                          domain=str(cookie["domain"]), path=str(cookie["path"]))
    csrf = chrome.find_element(By.NAME, "csrf_token").get_attribute("value")
    saved = other.post(area_url.replace("/area/A", "/answer/A4"),
                       json={"version": 0, "level": 3, "comment": "written in the other tab"},
                       headers={"X-CSRFToken": csrf, "Accept": "application/json"}, timeout=30)
    assert saved.status_code == 200, saved.text
    _comment(chrome, "A4").send_keys("written in this tab")
    box = _wait(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, "#c-A4 .conflict"),
                "this tab was not told about the newer answer")[0]
    assert "changed in another tab" in box.text
    assert box.find_element(By.TAG_NAME, "textarea").get_attribute(
        "value") == "written in this tab"
    assert _comment(chrome, "A4").get_attribute("value") == "written in the other tab"
    stored = _stored(tool, aid, "A4")
    assert stored is not None and stored.comment == "written in the other tab"

    # the user keeps this tab's text after all: saved on top of the newer answer (whose
    # level stays), visibly
    box.find_element(By.XPATH, ".//button[contains(., 'Use my text instead')]").click()
    _wait(chrome, lambda d: (a := _stored(tool, aid, "A4")) is not None
          and a.comment == "written in this tab" and a.level == 3,
          "'use my text' was not saved")
    _wait(chrome, lambda d: not d.find_elements(By.CSS_SELECTOR, "#c-A4 .conflict"),
          "the notice stayed after the choice")

    # 5. a real second tab: what it saves shows up in the first when that is shown again
    first = chrome.current_window_handle
    chrome.switch_to.new_window("tab")
    chrome.get(area_url)
    _comment(chrome, "A5").send_keys(" from the second tab")
    _wait(chrome, lambda d: _stored(tool, aid, "A5") is not None,
          "the second tab's text was not saved")
    chrome.switch_to.window(first)
    chrome.execute_script("document.dispatchEvent(new Event('visibilitychange'))")
    _wait(chrome, lambda d: _comment(d, "A5").get_attribute("value").strip()
          == "from the second tab", "the first tab did not show the second tab's answer")
