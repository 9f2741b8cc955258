"""When the cookie does not come back: LTI platform storage where the platform offers it,
else a new window. Browsers here are simulated by clients that drop every cookie."""

from __future__ import annotations

import html
import re

import requests

from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser, parse_form


class CookielessBrowser(requests.Session):
    """A browser whose third-party cookies are all blocked (no CHIPS either)."""

    def __init__(self) -> None:
        super().__init__()
        from http.cookiejar import DefaultCookiePolicy

        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))


def _data(page: str, name: str) -> str:
    match = re.search(rf'data-{name}="([^"]*)"', page)
    assert match, page[:1500]
    return html.unescape(match.group(1))


def test_platform_storage_stands_in_for_the_cookie(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = CookielessBrowser()
    login = client.get(test_platform.login_url(storage_target="post_message_forwarding"),
                       timeout=30)
    # The tool asks the platform to keep a secret (lti.put_data), then goes on to the platform.
    assert login.status_code == 200
    assert _data(login.text, "mode") == "put"
    assert _data(login.text, "target") == "post_message_forwarding"
    assert _data(login.text, "origin") == test_platform.base
    stored_value = _data(login.text, "value")  # what the platform frame now holds
    auth = client.get(_data(login.text, "redirect"), timeout=30)
    action, fields = parse_form(auth.text)
    # No cookie came back: the tool asks the platform storage (lti.get_data) …
    retry = client.post(action, data=fields, timeout=30)
    assert retry.status_code == 200
    assert _data(retry.text, "mode") == "get"
    _, retry_fields = parse_form(retry.text)
    assert retry_fields["qc_storage_attempted"] == "1"
    # … a wrong value is refused …
    forged = client.post(action, data={**retry_fields, "qc_storage_secret": "guess"},
                         allow_redirects=False, timeout=30)
    assert forged.status_code == 400
    # … and the right one completes the launch with a session that needs no cookie.
    done = client.post(action, data={**retry_fields, "qc_storage_secret": stored_value},
                       timeout=30)
    assert done.status_code == 200, done.text[:800]
    assert re.search(r"/app/t\.[^/]+/learner$", done.url)
    assert done.headers["Referrer-Policy"] == "no-referrer"


def test_without_cookies_or_storage_the_tool_offers_a_new_window_that_works(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    framed = CookielessBrowser()
    auth = test_platform.authorize(framed)
    action, fields = parse_form(auth.text)
    page = framed.post(action, data=fields, timeout=30)
    assert page.status_code == 401
    assert "Open Quality Club in a new window" in page.text
    link = html.unescape(re.search(r'href="(/lti/login\?[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert 'target="_blank"' in page.text
    # A top-level window is first-party: its cookies work, and the launch completes there.
    window = browser()
    login = window.get(tool.base_url + link, allow_redirects=False, timeout=30)
    assert login.status_code == 302
    auth2 = window.get(login.headers["Location"], timeout=30)
    action2, fields2 = parse_form(auth2.text)
    home = window.post(action2, data=fields2, timeout=30)
    assert home.status_code == 200
    assert home.url.endswith("/learner")


def test_a_cookieless_facilitator_can_still_deep_link(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    client = CookielessBrowser()
    login = client.get(test_platform.login_url(storage_target="_parent", user="instructor",
                                                message_type="LtiDeepLinkingRequest"),
                       timeout=30)
    secret = _data(login.text, "value")
    action, fields = parse_form(client.get(_data(login.text, "redirect"), timeout=30).text)
    _, retry_fields = parse_form(client.post(action, data=fields, timeout=30).text)
    picker = client.post(action, data={**retry_fields, "qc_storage_secret": secret}, timeout=30)
    assert re.search(r"/app/t\.[^/]+/deep-linking$", picker.url), picker.url
    returned = client.post(picker.url, data={"placement": "home"}, timeout=30)
    assert returned.status_code == 200, returned.text[:500]
    dl_action, dl_fields = parse_form(returned.text)
    assert dl_action == test_platform.base + "/dl-return" and dl_fields["JWT"]
