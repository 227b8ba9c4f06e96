"""Alembic migrations: equal to the ORM metadata, safe to run from several workers at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, inspect, text

from cds_service.cli import main
from cds_service.store import migrate
from cds_service.store.engine import create_db_engine
from cds_service.store.models import Base

TABLES = {"alembic_version", "feedback", "issued_card"}


def _diff(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrated_schema_equals_the_orm_metadata(engine: Engine) -> None:
    assert migrate.upgrade(engine) == migrate.head_revision() == "0001"
    assert set(inspect(engine).get_table_names()) == TABLES
    assert _diff(engine, Base.metadata) == []


def test_the_comparison_notices_drift(engine: Engine) -> None:
    """Guard for the test above: a model change without a migration is reported."""
    migrate.upgrade(engine)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["feedback"].append_column(Column("extra", String(10)))
    assert [change[0] for change in _diff(engine, drifted)] == ["add_column"]  # type: ignore[index]


def test_upgrade_is_idempotent_and_downgrade_reverses_it(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.upgrade(engine) == "0001"
    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrate.upgrade(engine) == "0001"
    assert _diff(engine, Base.metadata) == []


def test_workers_starting_at_once_migrate_exactly_once(database_url: str) -> None:
    """Six "workers" (own engine each, so nothing in-process serialises them) race."""
    workers = 6
    barrier = threading.Barrier(workers)
    engines = [create_db_engine(database_url) for _ in range(workers)]

    def start(engine: Engine) -> str | None:
        barrier.wait()
        return migrate.upgrade(engine)

    try:
        with ThreadPoolExecutor(workers) as pool:
            revisions = list(pool.map(start, engines))
        assert revisions == ["0001"] * workers
        with engines[0].connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == ["0001"]
    finally:
        for engine in engines:
            engine.dispose()


def test_cli_db_upgrade(
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    assert "revision 0001" in capsys.readouterr().out
    assert migrate.current_revision(engine) == "0001"


def test_cli_db_upgrade_fails_cleanly_on_an_unreachable_database(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path}/missing/x.sqlite3")
    assert main(["db", "upgrade"]) == 1
    assert "database upgrade failed (OperationalError)" in capsys.readouterr().err


def test_sqlite_connections_opening_a_new_file_at_once_all_get_wal(tmp_path: Path) -> None:
    """SQLite refuses a second concurrent journal-mode switch at once ("database is locked",
    busy handler not consulted): workers opening a new database together must still start."""
    workers = 12
    for attempt in range(40):
        url = f"sqlite:///{tmp_path / f'race-{attempt}.sqlite3'}"
        barrier = threading.Barrier(workers)
        engines = [create_db_engine(url) for _ in range(workers)]

        def open_one(engine: Engine, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            with engine.connect() as connection:
                return str(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())

        try:
            with ThreadPoolExecutor(workers) as pool:
                modes = list(pool.map(open_one, engines))
        finally:
            for engine in engines:
                engine.dispose()
        assert modes == ["wal"] * workers
