"""Alembic, driven from code: the migrations ship inside the package.

No ``alembic.ini`` and no dependence on the working directory: the config is built
here and the migration runs on a connection we open. Several workers may start at
once, so the upgrade runs under a lock held for the whole migration transaction:
``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` (the database write
lock) on SQLite. The second worker waits, then finds the schema at head and does
nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary but fixed: every prenatal-cds process contends for the same lock.
ADVISORY_LOCK_KEY = 0x70_72_65_6E_61_74_61  # "prenata"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision`` under the migration lock; returns the new revision."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            command.upgrade(alembic_config(connection), revision)
            return MigrationContext.configure(connection).get_current_revision()
