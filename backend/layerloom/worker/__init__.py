"""Celery delivery layer. Tasks are shims: the job logic lives in ``layerloom.jobs``."""
