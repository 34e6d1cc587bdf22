"""Alembic environment: the URL comes from the app's settings, like the app's own engine.

Precedence: ``config.attributes["url"]`` (layerloom.store.db.migrate and the tests), then
``alembic -x url=...``, then ``LAYERLOOM_DATABASE_URL`` / the default SQLite file under the data dir.
Batch mode lets ALTERs work on SQLite (which rebuilds the table); the models' naming convention gives
every constraint the name a later migration needs to drop or change it.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from layerloom.settings import Settings, get_settings
from layerloom.store.db import make_engine
from layerloom.store.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    if config.attributes.get("url"):
        return config.attributes["url"]
    given = context.get_x_argument(as_dictionary=True).get("url")
    # Through Settings, so `-x url=postgresql://…` gets the same driver and checks as the app.
    return Settings(database_url=given).database_url if given else get_settings().database_url


def configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Foreign keys off on SQLite while batch mode copies and drops tables: with them on, dropping the
    # old copy of a parent table would cascade-delete its children's rows.
    engine = make_engine(database_url(), foreign_keys=False, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
            if connection.dialect.name == "sqlite":
                check_foreign_keys(connection)
    finally:
        engine.dispose()


def check_foreign_keys(connection: Connection) -> None:
    """What the disabled foreign keys let through must still hold afterwards."""
    broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:10]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
