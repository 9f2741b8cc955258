"""An HTTP client that handles cookies the way Chromium does on loopback addresses.

Chromium stores and sends ``Secure`` cookies for http://localhost and http://127.0.0.1
(they are potentially trustworthy origins); Python's cookie jar does not. The tool sets
every cookie ``Secure`` always, so tests need the browser's behaviour.
"""

from __future__ import annotations

import html
import re
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


def _return_ok_secure(self: DefaultCookiePolicy, cookie: Any, request: Any) -> bool:
    host = urlsplit(request.get_full_url()).hostname or ""
    if host in LOOPBACK:
        return True
    return bool(_ORIGINAL_RETURN_OK_SECURE(self, cookie, request))


# requests copies the jar into a default-policy jar for every request (and redirect), so a
# per-session policy cannot do this: the default policy itself learns Chromium's rule.
_ORIGINAL_RETURN_OK_SECURE = DefaultCookiePolicy.return_ok_secure
DefaultCookiePolicy.return_ok_secure = _return_ok_secure  # type: ignore[method-assign]


def browser() -> requests.Session:
    """A fresh browser profile: its own cookie jar."""
    return requests.Session()


_INPUT = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)
_FORM = re.compile(r'<form[^>]*action="([^"]*)"', re.S)


def parse_form(page: str) -> tuple[str, dict[str, str]]:
    """The first form's action and its hidden inputs (enough for auto-submitted LTI forms)."""
    match = _FORM.search(page)
    if match is None:
        raise AssertionError("no form in page:\n" + page[:2000])
    action = html.unescape(match.group(1))
    fields = {html.unescape(k): html.unescape(v) for k, v in _INPUT.findall(page)}
    return action, fields


_IFRAME = re.compile(r'<iframe[^>]*\ssrc="([^"]+)"', re.S)


def iframe_src(page: str) -> str:
    match = _IFRAME.search(page)
    if match is None:
        raise AssertionError("no iframe in page:\n" + page[:2000])
    return html.unescape(match.group(1))
