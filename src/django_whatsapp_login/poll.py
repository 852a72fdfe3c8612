"""What the status poll and the push channel read: this session's attempt, cheaply.

``state.py`` keeps each attempt's public state in the shared cache; this module finds the
session's attempt there and checks that this browser created it, or reads the row when
the cache has nothing (or is per process). See ``state.py`` for why that is safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import attempts, state
from .models import LoginAttempt

if TYPE_CHECKING:
    from django.http import HttpRequest


def session_attempt(request: HttpRequest) -> LoginAttempt | None:
    """This session's attempt, bound to this browser, or None.

    From the cache when it has the entry: no query, and the instance is not saved and
    carries only status, reason, purpose, expires_at and the binding hash (enough for the
    status endpoint; anything that changes state must read the row). Otherwise the row,
    as :func:`attempts.get_session_attempt`, which then fills the cache.
    """
    if not state.enabled():
        return attempts.get_session_attempt(request)
    attempt_id = attempts.session_attempt_id(request)
    if attempt_id is None:
        return None
    cached = state.load(attempt_id)
    if cached is not None:
        # The same constant-time check of both binding halves as for the row.
        return cached if attempts.session_binds(request, cached) else None
    attempt = attempts.get_session_attempt(request)
    if attempt is not None:
        state.fill(attempt)
    return attempt
