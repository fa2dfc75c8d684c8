"""Alembic environment: the target metadata is billing_core's; the URL comes from the caller's
connection (billing_core.migrate) or from DATABASE_URL."""

from alembic import context

import billing_core.models  # noqa: F401  (registers every table)
from billing_core.config import Settings
from billing_core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Render our Money type with its import so versions/ need no ORM models."""
    from billing_core.db import Money

    if type_ == "type" and isinstance(obj, Money):
        autogen_context.imports.add("import billing_core.db")
        return f"billing_core.db.Money(precision={obj.precision}, scale={obj.scale})"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=Settings.from_env().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(Settings.from_env().database_url)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
