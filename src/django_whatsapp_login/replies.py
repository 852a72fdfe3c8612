"""What we say in WhatsApp: the YES/NO question, login notices (on by default) and
informational replies (opt-in: WHATSAPP_LOGIN_REPLIES).

=====================  ===========================================================
outcome                message
=====================  ===========================================================
awaiting_confirmation  ``question``: the login context and "Reply YES / NO", in the chat
                       the code came from (``WHATSAPP_LOGIN_CONFIRM``); if it cannot be
                       sent the attempt is rejected (``confirmation_unsent``)
confirmed              ``logged_in`` notice: the login context (site, browser and
                       system, place, time) and "Not you? Reply NO"
                       (``WHATSAPP_LOGIN_LOGIN_NOTICE``, on when a Green API token is set)
"NO" to the question   ``declined``: the login was cancelled
"YES" to 2+ questions  ``ambiguous``: reply to (quote) the question you mean
forwarded login text   ``forwarded``: a forwarded code never logs in; send your own (T3)
"NO" after a login     signs exactly that login out (the quoted notice's or question's,
                       else the latest), then ``signed_out`` (only if a session ended)
unknown number         ``not_registered`` (informational, WHATSAPP_LOGIN_REPLIES)
expired / used code    ``expired`` (refresh the page; informational)
anything else          nothing (not a login message, duplicates, rate limits, LID ...)
=====================  ===========================================================

Rules (SR-24): a message is sent only after the outcome has committed
(``transaction.on_commit``), with a short timeout and no retry. A failed send is logged
and changes nothing: the login it reports on is already committed. Informational replies
are sent at most once per incoming message and at most ``WHATSAPP_LOGIN_REPLIES_PER_HOUR``
per number. The login notice and the "signed out" answer are never counted against that
cap (junk codes sent first must not silence the notice of a real login): there is exactly
one notice per confirmed login, and logins are limited by ``RATE_LIMIT_CONFIRM``.

The question goes to the chat the login code came from (a LID chat too: without an answer
the login cannot go on). Other messages to a sender known only by a LID are not sent: the
delivery carries no phone number, and sending to LIDs has had delivery bugs. A delivery with
a phone on either side (``chatId`` or ``sender``) is answered on that phone.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from . import attempts, context, signals
from .conf import app_settings
from .gateways import Button, Message, get_gateway
from .models import (
    IdentityKind,
    IdentitySource,
    LoginAttempt,
    Reason,
    Status,
    WhatsAppIdentity,
)
from .phone import mask_phone

logger = logging.getLogger("django_whatsapp_login")

LOGGED_IN = "logged_in"
NOT_REGISTERED = "not_registered"
EXPIRED = "expired"
SIGNED_OUT = "signed_out"
IDENTITY_ADDED = "identity_added"
IDENTITY_REMOVED = "identity_removed"
QUESTION = "question"
DECLINED = "declined"
AMBIGUOUS = "ambiguous"
FORWARDED = "forwarded"
KINDS = (
    LOGGED_IN,
    NOT_REGISTERED,
    EXPIRED,
    SIGNED_OUT,
    IDENTITY_ADDED,
    IDENTITY_REMOVED,
    QUESTION,
    DECLINED,
    AMBIGUOUS,
    FORWARDED,
)
#: Kinds that are never counted against WHATSAPP_LOGIN_REPLIES_PER_HOUR.
NOTICES = frozenset(
    {
        LOGGED_IN,
        SIGNED_OUT,
        IDENTITY_ADDED,
        IDENTITY_REMOVED,
        QUESTION,
        DECLINED,
        AMBIGUOUS,
        FORWARDED,
    }
)

#: attempts.handle_message reasons that mean "this code cannot be used any more".
EXPIRED_REASONS = frozenset({"expired", "stale_message", "attempt_closed", "unknown_code"})
#: How long the "already replied to this message" claim is kept (Green API retries 24 h).
CLAIM_TTL = 48 * 3600


# Kept here for code written against earlier versions; the login context lives in context.py.
parse_user_agent = context.parse_user_agent
site_name = context.site_name


def no_words() -> set[str]:
    """The answers that mean "this was not me": ``NO`` and its translation."""
    return {word for word, answer in attempts.answer_words().items() if answer == attempts.NO}


# --- the hook ---------------------------------------------------------------------------


def handle(message: Message, outcome: attempts.Outcome) -> attempts.Outcome:
    """Called by the shared handler after ``attempts.handle_message``; returns the outcome
    (a "NO" that signed a login out becomes ``signed_out``). Apart from the confirmation
    question, does nothing when neither login notices nor informational replies are on."""
    if outcome.action == attempts.AWAITING and outcome.attempt is not None:
        schedule_question(outcome.attempt, message.chat_id, message.message_id)
        return outcome
    notices, informational = app_settings.NOTICES_ENABLED, app_settings.REPLIES
    if not (notices or informational):
        return outcome
    phone = message.senders.phone if message.senders is not None else None
    if phone is None:  # LID only, group, broadcast: no number to answer
        return outcome
    if outcome.action == "confirmed" and outcome.attempt is not None:
        if notices:
            schedule_notice(message, phone, outcome.attempt)
    elif outcome.action == "rejected" and outcome.reason == Reason.DECLINED:
        if notices:
            schedule(DECLINED, message, phone, outcome.attempt)
    elif outcome.action == "rejected" and outcome.reason == Reason.FORWARDED:
        if notices:
            schedule(FORWARDED, message, phone, outcome.attempt)
    elif outcome.action == "ignored" and outcome.reason == "ambiguous_answer":
        if notices:
            schedule(AMBIGUOUS, message, phone)
    elif outcome.action == "rejected" and outcome.reason == Reason.UNKNOWN_NUMBER:
        if informational:
            schedule(NOT_REGISTERED, message, phone)
    elif outcome.action == "ignored" and outcome.reason in EXPIRED_REASONS:
        if informational:
            schedule(EXPIRED, message, phone)
    elif (
        outcome.action == "ignored"
        and outcome.reason == "nothing_awaiting"
        and attempts.match_answer(message.text, button_id=message.button_id) == attempts.NO
    ):
        return sign_out(message, phone)
    return outcome


def _answered_attempt(message: Message, phone: str) -> LoginAttempt | None:
    """The login a "NO" from ``phone`` answers: the quoted notice's (or question's), else
    the latest one this number confirmed within ``WHATSAPP_LOGIN_SIGN_OUT_WINDOW``."""
    now = timezone.now()
    sender = attempts.sender_hash(phone)
    mine = LoginAttempt.objects.filter(
        sender_hash=sender,
        confirmed_at__gte=now - app_settings.SIGN_OUT_WINDOW,
        # A "NO" written before the login cannot be about it.
        confirmed_at__lte=datetime.fromtimestamp(message.timestamp, tz=dt_timezone.utc)
        + attempts.CLOCK_SKEW,
    )
    if message.quoted_id:
        names_quoted = Q(notice_message_id=message.quoted_id) | Q(
            question_message_id=message.quoted_id
        )
        if LoginAttempt.objects.filter(names_quoted, sender_hash=sender).exists():
            # Exactly the login the user answers, even if a newer one exists (and nothing
            # at all if that one is already over, declined or out of the window).
            return mine.filter(names_quoted).first()
    return (
        mine.filter(status__in=[Status.CONFIRMED, Status.CONSUMED])
        .exclude(reason=Reason.SIGNED_OUT)
        .order_by("-confirmed_at")
        .first()
    )


def sign_out(message: Message, phone: str) -> attempts.Outcome:
    """A "NO" from ``phone``: undo the login it answers, if a session really ends."""
    with transaction.atomic():
        if not attempts.first_delivery(message):
            return attempts.Outcome("duplicate")
        attempt = _answered_attempt(message, phone)
        if attempt is None or not attempts.revoke(attempt):
            return attempts.ignored("nothing_to_sign_out")
    logger.info("Login attempt %s signed out by a reply from %s", attempt.pk, mask_phone(phone))
    schedule(SIGNED_OUT, message, phone, attempt)
    return attempts.Outcome("signed_out", "", attempt)


def schedule_notice(message: Message, phone: str, attempt: LoginAttempt) -> None:
    """Send the login notice for ``attempt`` once the current transaction commits, and
    record its ``idMessage`` on the attempt (a quoted "NO" then names this login)."""
    chat_id, message_id, pk = message.chat_id, message.message_id, attempt.pk

    def send_notice() -> None:
        sent = send_and_get_id(LOGGED_IN, phone, chat_id, message_id, attempt=attempt)
        if sent:
            LoginAttempt.objects.filter(pk=pk).update(notice_message_id=sent)
            attempt.notice_message_id = sent

    transaction.on_commit(send_notice, robust=True)


def schedule_question(attempt: LoginAttempt, chat_id: str, message_id: str) -> None:
    """Ask the YES/NO question for ``attempt`` in ``chat_id`` once the current transaction
    commits; see :func:`send_question`."""
    transaction.on_commit(lambda: send_question(attempt, chat_id, message_id), robust=True)


def send_question(attempt: LoginAttempt, chat_id: str, message_id: str) -> bool:
    """Send the question now and record its id on ``attempt``; if it cannot be sent, reject
    the attempt (``confirmation_unsent``) so its page does not wait in vain. Never raises.

    The question is asked with YES/NO reply buttons where the gateway has them. With the
    development sandbox and no gateway credentials, nothing is sent: the login page shows
    the question and lets you answer it (``whatsapp_login:sandbox``).
    """
    try:
        if not app_settings.CAN_SEND:
            if app_settings.SANDBOX and settings.DEBUG:
                attempts.record_question(attempt, "SANDBOX-Q" + secrets.token_hex(8).upper())
                return True
            sent = ""
        else:
            sent = send_and_get_id(
                QUESTION,
                chat_id,
                chat_id,
                message_id,
                attempt=attempt,
                to=chat_id,
                buttons=answer_buttons(),
            )
        if sent:
            attempts.record_question(attempt, sent)
            return True
        attempts.question_unsent(attempt)
    except Exception:  # the page must be told, never left waiting (and never a 500)
        logger.exception("Confirmation question for login attempt %s failed", attempt.pk)
        try:
            attempts.question_unsent(attempt)
        except Exception:
            logger.exception("Login attempt %s could not be closed", attempt.pk)
    return False


def answer_buttons() -> list[Button]:
    """The question's reply buttons: YES and NO in ``WHATSAPP_LOGIN_REPLY_LANGUAGE``; a
    press is matched by the button's id (:func:`attempts.match_answer`)."""
    with translation.override(app_settings.REPLY_LANGUAGE):
        return [(attempts.BUTTON_YES, _("YES")), (attempts.BUTTON_NO, _("NO"))]


def question_text(attempt: LoginAttempt) -> str:
    """The question as it is sent (the sandbox shows it on the page)."""
    return render(QUESTION, attempt=attempt)


def schedule(kind: str, message: Message, phone: str, attempt: LoginAttempt | None = None) -> None:
    """Send reply ``kind`` to ``phone`` once the current transaction commits."""
    chat_id, message_id = message.chat_id, message.message_id
    transaction.on_commit(
        lambda: send(kind, phone, chat_id, message_id, attempt=attempt), robust=True
    )


# --- sending ------------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def _claim(chat_id: str, message_id: str) -> bool:
    """True the first time a reply to this incoming message is attempted."""
    return bool(cache.add(f"whatsapp_login:reply:msg:{_digest(chat_id, message_id)}", 1, CLAIM_TTL))


def _under_cap(phone: str) -> bool:
    """Count one reply to ``phone`` in this hour; False once the hourly cap is reached."""
    limit = app_settings.REPLIES_PER_HOUR
    if limit <= 0:
        return False
    window = int(time.time() // 3600)
    key = f"whatsapp_login:reply:cap:{_digest(phone)}:{window}"
    cache.add(key, 0, 3600 + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, 3600 + 60)
        count = 1
    return count <= limit


def render(kind: str, *, attempt: LoginAttempt | None = None, **extra: Any) -> str:
    """The text of message ``kind`` in ``WHATSAPP_LOGIN_REPLY_LANGUAGE``, with the login
    context of ``attempt`` (see :func:`django_whatsapp_login.context.login_context`)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown reply kind: {kind!r}")
    with translation.override(app_settings.REPLY_LANGUAGE):
        data: dict[str, Any] = {
            "site": context.site_name(),
            "time": formats.date_format(timezone.localtime(), "DATETIME_FORMAT"),
        }
        if attempt is not None:
            data.update(context.login_context(attempt).as_dict())
        data.update(extra)
        data["no_word"] = _("NO")
        data["yes_word"] = _("YES")
        text = render_to_string(f"whatsapp_login/replies/{kind}.txt", data)
    return "\n\n".join(part.strip() for part in text.strip().split("\n\n") if part.strip())


def send(
    kind: str,
    phone: str,
    chat_id: str,
    message_id: str,
    *,
    attempt: LoginAttempt | None = None,
    **extra: Any,
) -> bool:
    """Send one message now; True when the gateway accepted it. Never raises."""
    return bool(send_and_get_id(kind, phone, chat_id, message_id, attempt=attempt, **extra))


def send_and_get_id(
    kind: str,
    phone: str,
    chat_id: str,
    message_id: str,
    *,
    attempt: LoginAttempt | None = None,
    to: str | None = None,
    buttons: Sequence[Button] = (),
    **extra: Any,
) -> str:
    """Like :func:`send`, returning the sent message's id ("" if it was not sent). ``to``
    is the chat to write to (default: ``phone``'s personal chat); with ``buttons`` the
    message is a question (:meth:`Gateway.send_question`)."""
    from .gateways.http import redact

    try:
        if not _claim(chat_id, message_id + ":" + kind):
            return ""
        if kind not in NOTICES and not _under_cap(phone):
            logger.info(
                "WhatsApp reply (%s) to %s skipped: hourly cap reached", kind, mask_phone(phone)
            )
            return ""
        text = render(kind, attempt=attempt, **extra)
        gateway = get_gateway()
        chat = to or gateway.chat_for_phone(phone)
        if buttons:
            sent = gateway.send_question(chat, text, buttons)
        else:
            sent = gateway.send_text(chat, text)
    except Exception as err:  # a reply must never break or undo a login
        logger.warning("WhatsApp reply (%s) to %s failed: %s", kind, mask_phone(phone), redact(err))
        return ""
    logger.info("WhatsApp reply (%s) sent to %s", kind, mask_phone(phone))
    return sent


# --- a changed WhatsApp identity tells the old one ------------------------------------


def identity_linked(
    sender: Any, identity: WhatsAppIdentity, user: Any, source: str, **kwargs: Any
) -> None:
    """``identity_linked`` receiver: a new phone linked to a user (by the user or an
    administrator) is announced to the user's other phones. Ids learned from the user's
    own login traffic or a lookup of the same number are not news and send nothing."""
    if not app_settings.NOTICES_ENABLED or identity.kind != IdentityKind.PHONE:
        return
    if source in (IdentitySource.TRAFFIC, IdentitySource.LOOKUP):
        return
    old = WhatsAppIdentity.objects.filter(user_id=user.pk, kind=IdentityKind.PHONE).exclude(
        pk=identity.pk
    )
    for other in old:
        send(
            IDENTITY_ADDED,
            other.value,
            "identity",
            secrets.token_hex(8),
            new_id=mask_phone(identity.value),
        )


def identity_unlinked(sender: Any, user: Any, kind: str, value: str, **kwargs: Any) -> None:
    """``identity_unlinked`` receiver: the removed phone is told it no longer logs in."""
    if not app_settings.NOTICES_ENABLED or kind != IdentityKind.PHONE:
        return
    send(IDENTITY_REMOVED, value, "identity", secrets.token_hex(8))


def connect_signals() -> None:
    """Connect the identity receivers (called by the app config's ``ready()``)."""
    signals.identity_linked.connect(
        identity_linked, sender=WhatsAppIdentity, dispatch_uid="whatsapp_login.identity_added"
    )
    signals.identity_unlinked.connect(
        identity_unlinked, sender=WhatsAppIdentity, dispatch_uid="whatsapp_login.identity_removed"
    )


__all__ = [
    "handle",
    "parse_user_agent",
    "render",
    "schedule",
    "schedule_notice",
    "send",
    "sign_out",
    "site_name",
]
