"""Alembic environment for the feedback store.

Always run through :func:`cds_service.store.migrate.upgrade`, which hands over an open
connection (``config.attributes["connection"]``) already holding the migration lock,
so no ``alembic.ini``, URL or working directory is involved.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cds_service.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations with `cds-service db upgrade` (cds_service.store.migrate), "
        "which supplies the database connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
