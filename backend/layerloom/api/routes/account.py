"""The signed-in user: logging in and out (token mode's browser session), ``GET /api/me`` with the
quotas and their use, and the user's own API tokens.

Login sets the ``layerloom_session`` cookie: HttpOnly (no script reads it), SameSite=Strict (no
other site's page makes the browser send it) and Secure when the request came over https. State-
changing requests that authenticate with it pass the Origin / Sec-Fetch-Site checks of
api/security.py as well. Failed logins are counted per user name and per client address
(api/ratelimit.py); past the limit a login is a 429 with Retry-After, whether or not the password
is right.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Path, Request, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...settings import Settings
from ...store import quotas
from ...store.models import ApiToken, User
from .. import auth
from ..deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep
from ..errors import NotFound, TooManyRequests, Unauthorized
from ..ratelimit import FailureCounter, failure_counter
from ..routing import make_router

router = make_router("account", errors=(401, 404, 422, 429))


class Login(BaseModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)]


class QuotaPublic(BaseModel):
    name: str
    description: str
    unit: str
    limit: int = Field(description="0 means no limit.")
    used: int | None = Field(description="Current use; null for max_job_seconds, which limits each job run.")


class Me(BaseModel):
    id: str
    name: str
    is_admin: bool
    auth_mode: str
    quotas: list[QuotaPublic]
    running_policy: str = Field(description="Over max_running_jobs a new job waits ('queue') or is refused ('refuse').")


class TokenCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="What the token is for (a machine, a script).")


class TokenPublic(BaseModel):
    id: str
    name: str | None
    created_at: datetime
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself; shown only now, never again.")


def is_admin(user: User, settings: Settings) -> bool:
    """The admin role, LAYERLOOM_ADMIN_USERS, or (local mode) the local user."""
    named = {name.strip() for name in settings.admin_users.split(",") if name.strip()}
    return user.is_admin or user.name in named or (
        settings.auth_mode == "local" and user.name == settings.local_user_name)


def quota_list(session: Session, settings: Settings, user: User) -> list[QuotaPublic]:
    limits = quotas.limits(settings, user)
    use = quotas.usage(session, user.id)
    return [QuotaPublic(name=name, description=what, unit=unit, limit=limits[name], used=use.of(name))
            for name, (what, unit) in quotas.QUOTAS.items()]


def login_failure_counter(settings: Settings) -> FailureCounter:
    """The app's failed-login counts: in Redis when the deployment has it (events or broker URL)."""
    redis_url = next((u for u in (settings.events_url, settings.broker_url) if u.startswith("redis")), "")
    return failure_counter(redis_url, settings.login_window_seconds)


@router.post("/session", status_code=204, responses={204: {"description": "Logged in; the cookie is set."}})
def log_in(body: Login, request: Request, response: Response, session: SessionDep, settings: SettingsDep) -> None:
    """Log in with a user name and password (users made with `layerloom user create`): sets the
    session cookie. Wrong credentials are a 401; too many failures a 429 with Retry-After."""
    counter: FailureCounter = request.app.state.login_failures
    address = request.client.host if request.client else "unknown"
    keys = ((f"user:{body.username.lower()}", settings.login_max_failures_per_user),
            (f"addr:{address}", settings.login_max_failures_per_address))
    waits = [w for key, limit in keys if (w := counter.retry_after(key, limit)) is not None]
    if waits:
        wait = max(waits)
        raise TooManyRequests(f"Too many failed logins; try again in {wait} s.", headers={"Retry-After": str(wait)})
    user = session.scalar(select(User).where(User.name == body.username))
    if not auth.check_password(user, body.password) or user is None or user.disabled_at is not None:
        for key, _ in keys:
            counter.record_failure(key)
        raise Unauthorized("Wrong user name or password.")
    value = auth.create_session(session, user, timedelta(days=settings.session_days))
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(SESSION_COOKIE, value, max_age=int(settings.session_days * 86400), httponly=True,
                        samesite="strict", secure=secure, path="/")


@router.delete("/session", status_code=204)
def log_out(request: Request, response: Response, session: SessionDep) -> None:
    """End this browser's session (the cookie is cleared); nothing happens without one."""
    value = request.cookies.get(SESSION_COOKIE)
    if value:
        auth.end_session(session, value)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/me", response_model=Me)
def me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Me:
    """Who you are, whether you are an admin, and each quota with its limit and your current use."""
    return Me(id=user.id, name=user.name, is_admin=is_admin(user, settings), auth_mode=settings.auth_mode,
              quotas=quota_list(session, settings, user), running_policy=settings.quota_running_policy)


@router.get("/quotas", response_model=list[QuotaPublic])
def my_quotas(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> list[QuotaPublic]:
    return quota_list(session, settings, user)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(user: CurrentUser, session: SessionDep) -> list[TokenPublic]:
    """Your API tokens, newest first (without the tokens themselves: only their hashes are kept)."""
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.created_at.desc(), ApiToken.id)).all()
    return [TokenPublic(id=r.id, name=r.name, created_at=r.created_at, last_used_at=r.last_used_at) for r in rows]


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, user: CurrentUser, session: SessionDep) -> TokenCreated:
    """A new bearer token; the answer is the only time it is shown."""
    row, token = auth.create_token_row(session, user, body.name)
    return TokenCreated(id=row.id, name=row.name, created_at=row.created_at, last_used_at=None, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: Annotated[str, Path(max_length=100)], user: CurrentUser, session: SessionDep) -> None:
    """Revoke one of your tokens: it stops working at once."""
    gone = session.execute(delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)).rowcount
    session.commit()
    if not gone:
        raise NotFound(f"You have no token {token_id!r}.")
