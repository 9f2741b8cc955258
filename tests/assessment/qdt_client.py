"""Drives the Quality Development Tool over real HTTP as a learner's browser does.

A :class:`QdtUser` is one browser (cookie jar) after a real LTI launch from the
independent test platform into one course; its methods are the requests the pages make.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.conftest import IndependentPlatform, ToolServer
from tests.support.web_client import browser

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class QdtUser:
    tool: ToolServer
    client: requests.Session
    lid: str
    page: requests.Response
    csrf: str = field(default="")

    @property
    def app(self) -> str:
        return f"{self.tool.base_url}/app/{self.lid}"

    def _token(self, text: str) -> None:
        match = re.search(r'name="csrf_token" value="([^"]+)"', text)
        if match:
            self.csrf = match.group(1)

    def get(self, path: str, **kw: Any) -> requests.Response:
        response = self.client.get(self.app + path, timeout=30, **kw)
        self._token(response.text)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None,
             **kw: Any) -> requests.Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        response = self.client.post(self.app + path, data=form, timeout=30, **kw)
        self._token(response.text)
        return response

    def start(self, framework: str = "mobility") -> int:
        response = self.post(f"/qdt/{framework}/start")
        assert response.status_code == 200, response.text[:500]
        match = re.search(r"/assessment/(\d+)/area/", response.url)
        assert match, response.url
        return int(match.group(1))

    def save(self, aid: int, criterion: str, version: int = 0, *, csrf: str | None = None,
             **answer: Any) -> requests.Response:
        """The page's autosave request (JSON, CSRF header)."""
        return self.client.post(
            f"{self.app}/assessment/{aid}/answer/{criterion}",
            json={"version": version, **answer},
            headers={"X-CSRFToken": self.csrf if csrf is None else csrf,
                     "Accept": "application/json"},
            timeout=30,
        )

    def answers(self, aid: int) -> dict[str, dict[str, Any]]:
        response = self.client.get(f"{self.app}/assessment/{aid}/answers",
                                   headers={"Accept": "application/json"}, timeout=30)
        assert response.status_code == 200, response.text[:500]
        return {a["criterion"]: a for a in response.json()["answers"]}

    def answer_all(self, aid: int, framework: Any, levels: dict[str, int | str]) -> None:
        for criterion in framework.criteria:
            level = levels.get(criterion.id, 2)
            response = self.save(aid, criterion.id, 0, level=level)
            assert response.status_code == 200, response.text

    def choose(self, aid: int, *picks: tuple[str, str]) -> requests.Response:
        data: dict[str, str] = {}
        for rank, (criterion, reason) in enumerate(picks, start=1):
            data[f"priority-{rank}"] = criterion
            data[f"reason-{rank}"] = reason
        return self.post(f"/assessment/{aid}/priorities", data)

    def submit(self, aid: int) -> requests.Response:
        return self.post(f"/assessment/{aid}/submit")


def launch(tool: ToolServer, platform: IndependentPlatform, *, sub: str | None = None,
           context: str | None = None, role: str = "learner", framework: str = "mobility",
           client: requests.Session | None = None, **spec: Any) -> QdtUser:
    """A full LTI launch of the framework placement; lands on the overview (or cohort)."""
    client = client or browser()
    page = platform.launch(
        client=client, sub=sub or unique("qdt-user"), context=context or unique("course"),
        user="learner" if role == "learner" else "instructor",
        roles=[LEARNER if role == "learner" else INSTRUCTOR],
        target_link_uri=f"{tool.base_url}/lti/launch/qdt/{framework}", **spec)
    assert page.status_code == 200, page.text[:1000]
    match = re.search(r"/app/([^/]+)/", page.url)
    assert match, page.url
    user = QdtUser(tool=tool, client=client, lid=match.group(1), page=page)
    user._token(page.text)
    return user
