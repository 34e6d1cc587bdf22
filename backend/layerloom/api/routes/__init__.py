"""One module per tag; each exposes ``router`` and app.py includes them all under ``/api``."""
