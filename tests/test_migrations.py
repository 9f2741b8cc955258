"""The schema is built by Alembic migrations only, and they match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import lti_service.models  # noqa: F401
from lti_service.db import Base
from lti_service.migrate import downgrade, upgrade


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_the_migrated_schema_equals_the_models(migrated_database: str) -> None:
    assert _diff(migrated_database) == []


def test_migrations_go_down_to_nothing_and_up_again(scratch_database_url: str) -> None:
    upgrade(scratch_database_url)
    downgrade(scratch_database_url, "base")
    engine = create_engine(scratch_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(scratch_database_url)
    assert _diff(scratch_database_url) == []
