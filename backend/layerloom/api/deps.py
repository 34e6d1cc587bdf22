"""Typed dependencies: a route's signature states what it needs.

    def get_graph(graph: OwnedGraph, session: SessionDep) -> ...

``OwnedGraph`` / ``OwnedDataset`` / ``OwnedJob`` load the object named by the path parameter
(``graph_id`` / ``dataset_id`` / ``job_id``) *and* owned by the current user, through one query
helper, ``load_owned``: someone else's object is a 404, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..graph import Limits
from ..settings import Settings
from ..storage import Storage
from ..store.models import Dataset, Graph, Job, User
from . import auth
from .errors import NotFound, Unauthorized
from .schemas import MAX_INT, WholeNumber


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


StorageDep = Annotated[Storage, Depends(get_storage)]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class PageParams:
    """``?offset=&limit=`` for every list route; answer with ``schemas.Page`` (``{data, count}``)."""

    offset: Annotated[int, WholeNumber, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0
    limit: Annotated[int, WholeNumber, Query(ge=1, le=200, description="Items to return at most.")] = 50


Paging = Annotated[PageParams, Depends()]


def get_graph_limits(settings: SettingsDep) -> Limits:
    """The compiler's limits from this app's settings (not the process-wide ones)."""
    return Limits(settings.max_params, settings.max_graph_nodes, settings.max_graph_edges,
                  settings.max_tensor_elements, settings.max_block_depth)


GraphLimits = Annotated[Limits, Depends(get_graph_limits)]

SESSION_COOKIE = "layerloom_session"  # the browser's login in token mode (routes/account.py sets it)

_bearer = HTTPBearer(auto_error=False, description="A token from `layerloom token create NAME`. "
                                                    "Optional in the default local mode.")


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The bearer token's user; else, in token mode, the session cookie's (the browser after
    logging in); else, in local mode, the local user. A disabled user is refused at once."""
    if credentials is None:
        if "authorization" in request.headers:  # sent, but not as "Bearer <token>"
            raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
        if settings.auth_mode == "local":
            return auth.get_or_create_user(session, settings.local_user_name)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            user = auth.user_for_session(session, cookie)
            if user is None:
                raise Unauthorized("Your login has ended; log in again.")
            return user
        raise Unauthorized("This server needs a login: log in, or send 'Authorization: Bearer <token>' "
                           "(create one on the settings page or with `layerloom token create NAME`).")
    user = auth.user_for_token(session, credentials.credentials)
    if user is None:
        raise Unauthorized("The token is not valid (revoked, or its user is disabled); create a new one.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

Owned = TypeVar("Owned", Graph, Dataset, Job)


def load_owned(session: Session, model: type[Owned], object_id: str, user: User) -> Owned:
    """The ``model`` row with ``object_id`` owned by ``user``, else NotFound (404, never 403)."""
    found = session.scalar(select(model).where(model.id == object_id, model.owner_id == user.id))
    if found is None:
        raise NotFound(f"There is no {model.__name__.lower()} {object_id!r}.")
    return found


def owned_graph(graph_id: str, session: SessionDep, user: CurrentUser) -> Graph:
    return load_owned(session, Graph, graph_id, user)


def owned_dataset(dataset_id: str, session: SessionDep, user: CurrentUser) -> Dataset:
    return load_visible_dataset(session, dataset_id, user)


def visible_datasets(user: User):
    """The datasets ``user`` may read: their uploads, and the server folders an admin registered."""
    from ..store.datasets import FOLDER_INDEX

    return select(Dataset).where(or_(Dataset.owner_id == user.id, Dataset.storage_path.like(f"%/{FOLDER_INDEX}")))


def load_visible_dataset(session: Session, dataset_id: str, user: User) -> Dataset:
    found = session.scalar(visible_datasets(user).where(Dataset.id == dataset_id))
    if found is None:
        raise NotFound(f"There is no dataset {dataset_id!r}.")
    return found


def owned_job(job_id: str, session: SessionDep, user: CurrentUser) -> Job:
    return load_owned(session, Job, job_id, user)


OwnedGraph = Annotated[Graph, Depends(owned_graph)]
OwnedDataset = Annotated[Dataset, Depends(owned_dataset)]
OwnedJob = Annotated[Job, Depends(owned_job)]
