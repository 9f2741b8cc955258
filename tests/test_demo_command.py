"""The README's first command: `lti-service demo` brings everything up on embedded defaults,
and a launch from the demo LMS shows the learner's home."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.conftest import DemoLms
from tests.support.demo_process import running_demo


def test_demo_starts_from_an_empty_folder_and_a_learner_launch_works(tmp_path: Path) -> None:
    with running_demo(tmp_path) as base:
        index = requests.get(base + "/demo-lms/", timeout=10)
        assert index.status_code == 200 and "Launch as learner" in index.text

        class _Tool:
            base_url = base

        home = DemoLms(_Tool()).launch("learner")  # type: ignore[arg-type]
        assert home.status_code == 200
        assert home.url.endswith("/learner") and "Welcome, Lena" in home.text
        instance = tmp_path / "instance"
        assert (instance / "lti_service.db").exists()
        assert (instance / "secret_key").exists()
        assert oct((instance / "secret_key").stat().st_mode & 0o777) == "0o600"
