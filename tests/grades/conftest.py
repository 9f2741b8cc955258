"""Fixtures for grade-sync tests: the AGS platform process (one per module) and a fresh,
migrated database per test (on the suite's backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lti_service.migrate import upgrade
from tests.grades.env import AgsPlatform, GradeEnv, start_platform


@pytest.fixture(scope="module")
def ags_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgsPlatform]:
    jwks = tmp_path_factory.mktemp("ags") / "tool-jwks.json"
    jwks.write_text('{"keys": []}')
    platform = start_platform(jwks)
    try:
        yield platform
    finally:
        platform.proc.terminate()
        platform.proc.wait(timeout=10)


@pytest.fixture
def grade_env(scratch_database_url: str, ags_platform: AgsPlatform,
              tmp_path: Path) -> Iterator[GradeEnv]:
    upgrade(scratch_database_url)
    ags_platform.reset()
    env = GradeEnv(scratch_database_url, tmp_path / "instance", ags_platform)
    try:
        yield env
    finally:
        env.close()
