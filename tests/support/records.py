"""Rows the tests build directly: a platform's registration and one of its courses."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from lti_service.models import Context, Registration


def registration_with_course(s: Session) -> tuple[Registration, Context]:
    """A new registration (its own issuer) and a course in it, flushed, not committed."""
    tag = uuid.uuid4().hex[:8]
    reg = Registration(issuer=f"https://lms-{tag}.example", client_id="c",
                       auth_login_url="https://x/a", auth_token_url="https://x/t",
                       key_set_url="https://x/k")
    s.add(reg)
    s.flush()
    ctx = Context(registration_id=reg.id, context_id=f"course-{tag}")
    s.add(ctx)
    s.flush()
    return reg, ctx
