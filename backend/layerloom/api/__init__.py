"""The REST API (FastAPI): ``create_app(settings)``; routes in ``routes/``, dependencies in ``deps.py``."""

from .app import create_app

__all__ = ["create_app"]
