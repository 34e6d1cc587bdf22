"""``GET /metrics``: Prometheus text for an operator's scraper (prometheus-client).

Each app has its own registry (tests run several apps in one process). Job figures are read from
the database when scraped (one query for the states, one for the timings), so every API process
reports the same truth; live figures (websockets, notifications, this API's statements) are its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, func, select

from ..storage.base import ERRORS as STORAGE_ERRORS
from ..store.models import Job, JobState

# Seconds: from a second (a warm queue) to a day (a long training run).
BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
STORAGE_ACTIONS = ("read", "write", "stat", "list", "delete", "download")


class StatementCounter:
    """Counts the SQL statements an engine sends (the cost watchers and scrapes put on the database)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.count += 1


class LayerloomCollector(Collector):
    def __init__(self, app: FastAPI, live_workers: Callable[[], int]) -> None:
        self.app, self.live_workers = app, live_workers

    def collect(self) -> Iterator[Any]:
        state = self.app.state
        with state.sessionmaker() as session:
            by_state = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
            timings = session.execute(select(Job.created_at, Job.started_at, Job.finished_at)
                                      .where(Job.started_at.is_not(None))).all()
        jobs = GaugeMetricFamily("layerloom_jobs", "Jobs by state.", labels=["state"])
        for job_state in JobState:
            jobs.add_metric([job_state.value], by_state.get(job_state.value, 0))
        yield jobs
        yield _histogram("layerloom_queue_wait_seconds", "From submission to the first start.",
                         [(started - created).total_seconds() for created, started, _ in timings])
        yield _histogram("layerloom_job_duration_seconds", "From the first start to the end, for ended jobs.",
                         [(finished - started).total_seconds() for _, started, finished in timings if finished])
        hub = state.event_hub
        yield CounterMetricFamily("layerloom_job_events", "Job events notified to this API process.",
                                  value=hub.notifications)
        yield GaugeMetricFamily("layerloom_websockets", "Open live event streams.", value=hub.watchers)
        yield GaugeMetricFamily("layerloom_workers", "Workers that reported recently.", value=self.live_workers())
        yield CounterMetricFamily("layerloom_db_statements", "SQL statements this API process sent.",
                                  value=state.statement_counter.count)
        storage_errors = CounterMetricFamily("layerloom_storage_errors", "Failed storage operations of this API "
                                             "process (a worker's fail its job's attempt, which says so).",
                                             labels=["backend", "action"])
        counts = {(state.storage.name, action): 0 for action in STORAGE_ACTIONS}  # present from the first scrape
        counts.update(STORAGE_ERRORS)
        for (backend, action), count in sorted(counts.items()):
            storage_errors.add_metric([backend, action], count)
        yield storage_errors


def _histogram(name: str, documentation: str, values: list[float]) -> HistogramMetricFamily:
    buckets = [(str(float(bound)), sum(v <= bound for v in values)) for bound in BUCKETS]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))


def install_metrics(app: FastAPI, live_workers: Callable[[], int]) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LayerloomCollector(app, live_workers))

    @app.get("/metrics", include_in_schema=False, tags=["metrics"])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
