"""Users, passwords, browser sessions and bearer tokens, and what the ``layerloom user`` and
``layerloom token`` commands run (registered in ``cli.py``).

A token (or a session cookie's value) is shown once, when it is made; the database keeps only its
sha256, and a request's token is found by hashing it. sha256 without salt is enough here because
tokens are 256 random bits, not passwords: there is nothing to guess. Passwords are hashed with
argon2id (argon2-cffi's defaults). A disabled user's tokens and sessions find no user.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import secrets
import sys
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..settings import get_settings
from ..store.db import make_engine, make_sessionmaker, migrate
from ..store.models import ApiToken, User, UserSession, utcnow

TOKEN_PREFIX = "ll_"  # makes a leaked token easy to recognise in logs and secret scanners
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1000  # argon2 takes any length; this only bounds the work one login can ask for

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so that a login takes as long either way and
    its timing does not tell which names exist. Made on first use: hashing takes a good fraction of
    a second, which importing this module should not cost."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """True when ``password`` is the user's; always does one argon2 verification."""
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and user.password_hash is not None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password is too long: use at most {MAX_PASSWORD_LENGTH} characters."
    return None


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


def create_token(session: Session, user: User, name: str | None = None) -> str:
    """A new token for ``user`` (committed). The returned text is the only copy of the token."""
    return create_token_row(session, user, name)[1]


def create_token_row(session: Session, user: User, name: str | None = None) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), name=name)
    session.add(row)
    session.commit()
    return row, token


def create_session(session: Session, user: User, lifetime: timedelta) -> str:
    """A new browser session for ``user`` (committed); the returned text is the cookie's value."""
    value = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at < now))
    session.add(UserSession(user_id=user.id, token_hash=hash_token(value), expires_at=now + lifetime))
    session.commit()
    return value


def user_for_session(session: Session, value: str) -> User | None:
    """The enabled user of an unexpired session cookie, or None."""
    return session.scalar(select(User).join(UserSession, UserSession.user_id == User.id).where(
        UserSession.token_hash == hash_token(value), UserSession.expires_at > utcnow(), User.disabled_at.is_(None)))


def end_session(session: Session, value: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == hash_token(value)))
    session.commit()


def user_for_token(session: Session, token: str) -> User | None:
    """The token's enabled user, or None; records when the token was last used (committed)."""
    row = session.execute(
        select(ApiToken, User).join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), User.disabled_at.is_(None))
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


# ---- `layerloom user ...` -----------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("The passwords differ; nothing was changed.")
    return first


def _with_session(action):
    url = get_settings().database_url
    migrate(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return action(session)
    finally:
        engine.dispose()


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a user who logs in with a password (or set an existing user's password and role)."""
    password = _read_password(args)
    problem = password_problem(password)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    def create(session: Session) -> str:
        user = get_or_create_user(session, args.name)
        user.password_hash = hash_password(password)
        user.is_admin = user.is_admin or args.admin
        session.commit()
        return f"User {user.name!r} {'(admin) ' if user.is_admin else ''}can log in."

    print(_with_session(create))
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    enable = args.user_command == "enable"

    def change(session: Session) -> int:
        user = session.scalar(select(User).where(User.name == args.name))
        if user is None:
            print(f"There is no user {args.name!r}.", file=sys.stderr)
            return 1
        set_disabled(session, user, not enable)
        print(f"User {user.name!r} is {'enabled' if enable else 'disabled: its sessions and tokens stop working'}.")
        return 0

    return _with_session(change)


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    """Disable (its sessions end at once; tokens stay but find no user) or enable a user; commits."""
    user.disabled_at = (user.disabled_at or utcnow()) if disabled else None
    if disabled:
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.commit()


def cmd_user_list(args: argparse.Namespace) -> int:
    def rows(session: Session) -> list[User]:
        return list(session.scalars(select(User).order_by(User.name)))

    for user in _with_session(rows):
        flags = [f for f, on in (("admin", user.is_admin), ("disabled", user.disabled_at is not None),
                                 ("password", user.password_hash is not None)) if on]
        print(f"{user.name}\t{', '.join(flags)}")
    return 0
