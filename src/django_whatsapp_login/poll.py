"""What the status poll and the push channel read: this session's attempt, cheaply.

``state.py`` keeps each attempt's public state in the shared cache; this module finds the
session's attempt there and checks that this browser created it, or reads the row when
the cache has nothing (or is per process). See ``state.py`` for why that is safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import attempts, ratelimit, state
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


def limited_session_state(
    request: HttpRequest, spec: str, session_key: str | None
) -> tuple[int | None, LoginAttempt | None, tuple[Any, ...] | None]:
    """The status poll's rate limit (``spec``, counted per attempt and per ``session_key``)
    and then this session's state: ``(retry_after, attempt, entry)``.

    With Django's Redis cache the counters and the cached state are one round trip
    (``ratelimit.hit_then_get``); a refused poll reads nothing. ``entry`` is the cached
    state (``state.entry``'s tuple, already checked against this browser's binding) when
    the cache had it, and then ``attempt`` is None; otherwise ``attempt`` is the row (or
    None: no attempt, or not this browser's), which then fills the cache, and ``entry``
    None."""
    attempt_id = attempts.session_attempt_id(request)
    read_key = state.cache_key(attempt_id) if attempt_id is not None and state.enabled() else None
    cached = read_key is not None
    keys = {"attempt": str(attempt_id) if attempt_id else None, "session": session_key}
    retry_after, value = ratelimit.hit_then_get("status", spec, keys, read_key)
    if retry_after:
        return retry_after, None, None
    if attempt_id is None:
        return None, None, None
    if cached and state.valid_entry(value):
        # The same constant-time check of both binding halves as for the row.
        if attempts.session_binds_hash(request, attempt_id, value[5]):
            return None, None, value
        return None, None, None
    attempt = attempts.get_session_attempt(request)
    if cached and attempt is not None:
        state.fill(attempt)
    return None, attempt, None
