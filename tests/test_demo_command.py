"""The README's first command: `lti-service demo` brings everything up on embedded defaults,
and a launch from the demo LMS shows the learner's home."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import DemoLms, free_port


def test_demo_starts_from_an_empty_folder_and_a_learner_launch_works(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
    proc = subprocess.Popen([sys.executable, "-m", "lti_service.cli", "demo", "--port",
                             str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "demo did not start within 60 s"
            time.sleep(0.2)
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
    finally:
        proc.terminate()
        proc.wait(timeout=20)
