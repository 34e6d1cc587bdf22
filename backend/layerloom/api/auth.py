"""Users and bearer tokens, and what ``layerloom token create NAME`` runs (registered in ``cli.py``).

A token is shown once, when it is made; the database keeps only its sha256, and a request's token
is found by hashing it. sha256 without salt is enough here because tokens are 256 random bits, not
passwords: there is nothing to guess.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..settings import get_settings
from ..store.db import make_engine, make_sessionmaker, migrate
from ..store.models import ApiToken, User, utcnow

TOKEN_PREFIX = "ll_"  # makes a leaked token easy to recognise in logs and secret scanners
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def get_or_create_user(session: Session, name: str) -> User:
    """The user called ``name``, created (and committed) if missing; safe against a concurrent create."""
    user = session.scalar(select(User).where(User.name == name))
    if user is not None:
        return user
    try:
        user = User(name=name)
        session.add(user)
        session.commit()
        return user
    except IntegrityError:  # another request created it first
        session.rollback()
        return session.scalars(select(User).where(User.name == name)).one()


def create_token(session: Session, user: User) -> str:
    """A new token for ``user`` (committed). The returned text is the only copy of the token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token)))
    session.commit()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user, or None; records when the token was last used (committed)."""
    row = session.execute(
        select(ApiToken, User).join(User, ApiToken.user_id == User.id).where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
        # Throttled: otherwise every read request would be a write, and SQLite serialises writes.
        session.execute(update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now))
        session.commit()
    return user


def cmd_token_create(args: argparse.Namespace) -> int:
    url = get_settings().database_url
    migrate(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            user = get_or_create_user(session, args.name)
            token = create_token(session, user)
    finally:
        engine.dispose()
    print(token)
    return 0
