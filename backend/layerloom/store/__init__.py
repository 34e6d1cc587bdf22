"""Persistence: the database (source of truth for users, graphs, datasets, jobs and events) and the
files under ``data_dir``.

    engine = make_engine(settings.database_url); migrate(settings.database_url)
    Session = make_sessionmaker(engine)
"""

from typing import TYPE_CHECKING, Any

__all__ = ["alembic_config", "make_engine", "make_sessionmaker", "migrate"]

if TYPE_CHECKING:
    from .db import alembic_config, make_engine, make_sessionmaker, migrate


def __getattr__(name: str) -> Any:
    # SQLAlchemy only on first use: the job runner reads stored dataset files through
    # ``store.datasets`` and must not pay for the database layer.
    if name in __all__:
        from . import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
