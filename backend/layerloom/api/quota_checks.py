"""The API's quota refusals: each names the quota, its limit and the current use (store/quotas.py
has the numbers). Jobs are refused with 429, storage with 413."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..data.dataset import human_bytes
from ..settings import Settings
from ..store import quotas
from ..store.models import User
from .errors import ApiError, PayloadTooLarge, TooManyRequests, problem


def refusal(error: type[ApiError], name: str, limit: int, used: int, advice: str) -> ApiError:
    shown_limit, shown_used = (human_bytes(limit), human_bytes(used)) if name == "max_stored_bytes" else (limit, used)
    what = quotas.QUOTAS[name][0]
    message = f"Over your quota {name} ({what}): the limit is {shown_limit}, you use {shown_used}. {advice}"
    return error(message, [problem("quota_exceeded", message, field=name)])


def check_job_submission(session: Session, settings: Settings, user: User) -> None:
    """A new job would be queued: refused (429) over max_queued_jobs, or over max_running_jobs when
    the running policy is 'refuse' (then every active job counts, as each of them will run)."""
    limits = quotas.limits(settings, user)
    if any(limits.values()):  # count and insert under the user's row lock: two submissions count in turn
        session.execute(select(User.id).where(User.id == user.id).with_for_update())
    use = quotas.usage(session, user.id)
    if limits["max_queued_jobs"] and use.queued_jobs >= limits["max_queued_jobs"]:
        raise refusal(TooManyRequests, "max_queued_jobs", limits["max_queued_jobs"], use.queued_jobs,
                      "Wait for a queued job to start, or cancel one.")
    active = use.running_jobs + use.queued_jobs
    if settings.quota_running_policy == "refuse" and limits["max_running_jobs"] and active >= limits["max_running_jobs"]:
        raise refusal(TooManyRequests, "max_running_jobs", limits["max_running_jobs"], active,
                      "Wait for one of your jobs to end, or cancel one.")


def check_new_dataset(session: Session, settings: Settings, user: User) -> tuple[int, int] | None:
    """Before an upload is read: refused over max_datasets (429) or with no storage left (413).
    Returns (limit, use) of max_stored_bytes for the streaming check (None: no storage quota)."""
    limits = quotas.limits(settings, user)
    use = quotas.usage(session, user.id)
    if limits["max_datasets"] and use.datasets >= limits["max_datasets"]:
        raise refusal(TooManyRequests, "max_datasets", limits["max_datasets"], use.datasets,
                      "Delete a dataset you no longer need.")
    if not limits["max_stored_bytes"]:
        return None
    if use.stored_bytes >= limits["max_stored_bytes"]:
        raise storage_refusal(limits["max_stored_bytes"], use.stored_bytes)
    return limits["max_stored_bytes"], use.stored_bytes


def storage_refusal(limit: int, used: int) -> ApiError:
    return refusal(PayloadTooLarge, "max_stored_bytes", limit, used,
                   "The upload does not fit and was not stored; delete datasets or jobs you no longer need.")
