"""Operator accounts: creation and password checks (Argon2id via argon2-cffi), with a short
lock-out after repeated failures so the console cannot be brute-forced."""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_service.db import utcnow
from lti_service.models import Operator

MAX_FAILURES = 5
LOCK_SECONDS = 300
MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()


class OperatorError(ValueError):
    pass


def create_operator(session: Session, username: str, password: str) -> Operator:
    username = username.strip()
    if not username or len(username) > 150:
        raise OperatorError("the username must be 1 to 150 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalars(select(Operator).where(Operator.username == username)).first():
        raise OperatorError(f"an operator named {username!r} already exists")
    operator = Operator(username=username, password_hash=_HASHER.hash(password))
    session.add(operator)
    session.flush()
    return operator


def authenticate(session: Session, username: str, password: str) -> Operator | None:
    """The operator if the password is right and the account is not locked; else None."""
    operator = session.scalars(select(Operator).where(Operator.username == username.strip())
                               ).first()
    if operator is None:
        _HASHER.hash(password)  # same work as a real check: no username oracle by timing
        return None
    now = utcnow()
    if operator.locked_until is not None and operator.locked_until > now:
        return None
    try:
        _HASHER.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        operator.failed_logins += 1
        if operator.failed_logins >= MAX_FAILURES:
            operator.locked_until = now + dt.timedelta(seconds=LOCK_SECONDS)
            operator.failed_logins = 0
        return None
    if _HASHER.check_needs_rehash(operator.password_hash):
        operator.password_hash = _HASHER.hash(password)
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    return operator
