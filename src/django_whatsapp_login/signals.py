"""Signals sent during a login attempt's life.

All are sent with ``sender=LoginAttempt`` after the database transaction that made
the change has committed, so receivers never see a state that could be rolled back.

``attempt_created``
    kwargs: ``attempt`` (LoginAttempt), ``request`` (HttpRequest).
``attempt_confirmed``
    A WhatsApp message from a known number confirmed the attempt.
    kwargs: ``attempt``, ``user``, ``phone`` (E.164 of the sender), ``message_id``.
``attempt_rejected``
    kwargs: ``attempt``, ``reason`` (a ``Reason`` value, e.g. ``"unknown_number"``),
    ``phone`` (E.164 of the sender or ``None`` when it could not be read).

Completing the login sends Django's own ``user_logged_in``.
"""

from __future__ import annotations

from django.dispatch import Signal

attempt_created = Signal()
attempt_confirmed = Signal()
attempt_rejected = Signal()

#: A WhatsApp id was linked to a user (by traffic, the link page, a lookup or an admin).
#: Sent with ``sender=WhatsAppIdentity`` after commit. kwargs: ``identity``, ``user``,
#: ``source`` (an ``IdentitySource`` value).
identity_linked = Signal()
#: A WhatsApp id was removed from a user. Sent with ``sender=WhatsAppIdentity`` after
#: commit. kwargs: ``user``, ``kind``, ``value``.
identity_unlinked = Signal()
