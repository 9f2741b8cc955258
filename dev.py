#!/usr/bin/env python3
"""The project's two set-up commands, with nothing but Python 3.11+ needed:

    python3 dev.py run     # the demo: tool + demo LMS on http://127.0.0.1:5000/demo-lms/
    python3 dev.py test    # the whole test suite (extra arguments go to pytest)
    python3 dev.py lint    # ruff and mypy

Each creates ``.venv/`` and installs the project into it from ``pyproject.toml`` when that
changed, so a fresh clone needs no other step.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must explain, not crash
        sys.exit("Python 3.11 or newer is needed (this is {}.{}).".format(*sys.version_info))
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing the project and its dependencies into .venv ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                   check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[dev]"],
                   check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command not in ("run", "test", "lint"):
        print(__doc__)
        return 0 if command == "help" else 2
    ensure_venv()
    if command == "run":
        return run("-m", "lti_service.cli", "demo", *argv[1:])
    if command == "lint":
        return run("-m", "ruff", "check", "lti_service", "tests", "benchmarks", "dev.py") or run(
            "-m", "mypy")
    # The browser tests drive Debian's Chromium; install it when missing (needs root/sudo).
    if subprocess.call(["sh", str(ROOT / "scripts" / "ensure-chromium")]) != 0:
        return 1
    return run("-m", "pytest", *argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
