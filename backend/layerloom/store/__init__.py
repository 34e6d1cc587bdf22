"""Persistence: the database (source of truth for users, graphs, datasets, jobs and events) and the
files under ``data_dir``.

    engine = make_engine(settings.database_url); migrate(settings.database_url)
    Session = make_sessionmaker(engine)
"""

from .db import alembic_config, make_engine, make_sessionmaker, migrate

__all__ = ["alembic_config", "make_engine", "make_sessionmaker", "migrate"]
