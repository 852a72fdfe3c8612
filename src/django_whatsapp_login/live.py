"""Telling waiting pages that their attempt changed: the cached state and the push channel.

:func:`publish` runs after every committed change of an attempt (``attempts.py`` calls it
through ``transaction.on_commit``). It writes the attempt's public state to the shared
cache (``state.py``), which the status poll reads instead of the row.
"""

from __future__ import annotations

import logging

from . import state
from .models import LoginAttempt

logger = logging.getLogger("django_whatsapp_login")


def publish(attempt: LoginAttempt) -> None:
    """The change to ``attempt`` has committed: update the cached state.

    Never raises: the change is already committed, and a webhook or a login must not fail
    because the cache is down (the poll then reads the row).
    """
    try:
        state.store(attempt)
    except Exception:
        logger.exception("Could not publish login attempt %s", attempt.pk)
