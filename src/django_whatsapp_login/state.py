"""The public state of each attempt, kept in the shared cache for the status poll.

Every browser on the login page asks for its attempt's status every few hundred
milliseconds, and almost every answer is "still pending". Reading the attempt row for
each of those answers costs a database round trip per poll per waiting page; instead,
each committed transition (and each new attempt) writes what the status endpoint needs
to the cache (:func:`store`, through ``live.publish``), and the poll reads it there
(``events.session_attempt``).

Correctness first:

* The entry is written only after the transaction commits (``transaction.on_commit``),
  so a poll never sees a state that could still roll back.
* Only the creation writes "pending", and it commits before the page can show the code,
  so no transition can come before it: a later write can never be overwritten by a stale
  "pending". A poll that finds nothing reads the row and fills the entry with
  ``cache.add``, which never replaces an entry a transition wrote meanwhile.
* The entry holds the attempt's binding hash, so the cached path checks the browser
  binding exactly like the row does (:func:`attempts.session_binds`, constant time). The
  hash is of two 256-bit secrets: the cache gives nothing a browser could present.
* The entry holds ``expires_at``, so an attempt whose lifetime ends with no transition
  still reads as expired (``LoginAttempt.public_status`` decides, as for the row).
* With a per-process cache (LocMem, Dummy) a transition in one worker cannot reach a poll
  in another, so the cache is not used at all unless ``WHATSAPP_LOGIN_STATE_CACHE`` says
  otherwise, and every poll reads the row as before.
* Nothing that changes state trusts the cache: ``complete`` and the webhook always read
  the row. A stale entry could only delay what the page shows, never log anyone in.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

from . import ratelimit
from .conf import app_settings
from .models import LoginAttempt, Status

logger = logging.getLogger("django_whatsapp_login")

#: Bump when the entry's shape changes: entries of another version read as missing.
ENTRY_VERSION = 1
#: How long an entry outlives its attempt's expiry (seconds). After ``expires_at`` every
#: waiting attempt reads as expired anyway; the margin covers clocks a little apart.
GRACE = 60


def enabled() -> bool:
    """Is the shared cache used for the status poll? ``WHATSAPP_LOGIN_STATE_CACHE``:
    ``None`` (default) means yes unless the default cache is per process."""
    setting = app_settings.STATE_CACHE
    if setting is not None:
        return setting
    return not isinstance(caches["default"], (LocMemCache, DummyCache))


def cache_key(attempt_id: int) -> str:
    return f"whatsapp_login:st:{attempt_id}"


def entry(attempt: LoginAttempt) -> tuple[Any, ...]:
    """What the cache keeps for ``attempt``: only what the status endpoint reads."""
    return (
        ENTRY_VERSION,
        str(attempt.status),
        str(attempt.reason),
        str(attempt.purpose),
        attempt.expires_at.timestamp(),
        attempt.binding_hash,
    )


def _timeout(attempt: LoginAttempt) -> int:
    return max(1, int(attempt.expires_at.timestamp() - time.time()) + GRACE)


def store(attempt: LoginAttempt) -> None:
    """Write ``attempt``'s public state (call after the change committed)."""
    if not enabled():
        return
    try:
        cache.set(cache_key(attempt.pk), entry(attempt), timeout=_timeout(attempt))
    except Exception:
        # The row is the truth: a cache that is down only sends polls to the database.
        # Whatever the previous entry said must not outlive this change, though.
        logger.exception("Could not store the state of login attempt %s", attempt.pk)
        forget(attempt.pk)


def forget(attempt_id: int) -> None:
    try:
        cache.delete(cache_key(attempt_id))
    except Exception:
        logger.exception("Could not drop the cached state of login attempt %s", attempt_id)


def fill(attempt: LoginAttempt) -> None:
    # add, never set: a transition that committed after our read wrote a newer entry.
    try:
        cache.add(cache_key(attempt.pk), entry(attempt), timeout=_timeout(attempt))
    except Exception:
        logger.exception("Could not cache the state of login attempt %s", attempt.pk)


def valid_entry(value: Any) -> bool:
    """Is ``value`` an entry of this version (what :func:`entry` writes)?"""
    return isinstance(value, tuple) and len(value) == 6 and value[0] == ENTRY_VERSION


def public_status(value: tuple[Any, ...], now: float) -> str:
    """``LoginAttempt.public_status`` of a valid entry at ``now`` (a timestamp), without
    building the instance: pending, awaiting YES and confirmed read as expired from
    ``expires_at`` on."""
    status = value[1]
    if status in _EXPIRING and now >= value[4]:
        return Status.EXPIRED.value
    return str(status)


_EXPIRING = frozenset(
    {Status.PENDING.value, Status.AWAITING_CONFIRMATION.value, Status.CONFIRMED.value}
)


def from_entry(attempt_id: int, value: Any) -> LoginAttempt | None:
    """An unsaved ``LoginAttempt`` carrying the cached fields, or None for a bad entry."""
    if not valid_entry(value):
        return None
    _version, status, reason, purpose, expires, binding_hash = value
    return LoginAttempt(
        pk=attempt_id,
        status=status,
        reason=reason,
        purpose=purpose,
        expires_at=datetime.fromtimestamp(expires, tz=timezone.utc),
        binding_hash=binding_hash,
    )


def _get(key: str) -> Any:
    found = ratelimit.redis_client()
    if found is None:
        return cache.get(key)
    # The same key and serializer as cache.get(), without a new client per call.
    backend, client = found
    raw = client.get(backend.make_and_validate_key(key))
    return None if raw is None else backend._cache._serializer.loads(raw)  # type: ignore[attr-defined]


def load(attempt_id: int) -> LoginAttempt | None:
    """The cached state of an attempt (an unsaved instance), or None if there is none."""
    try:
        value = _get(cache_key(attempt_id))
    except Exception:
        logger.exception("Could not read the state of login attempt %s", attempt_id)
        return None
    return from_entry(attempt_id, value)


def load_many(attempt_ids: set[int]) -> dict[int, LoginAttempt]:
    """The cached states of several attempts in one round trip (the missing are left out)."""
    if not attempt_ids:
        return {}
    keys = {cache_key(attempt_id): attempt_id for attempt_id in attempt_ids}
    try:
        values = cache.get_many(list(keys))
    except Exception:
        logger.exception("Could not read the states of %s login attempts", len(keys))
        return {}
    found = {}
    for key, value in values.items():
        attempt = from_entry(keys[key], value)
        if attempt is not None:
            found[attempt.pk] = attempt
    return found
