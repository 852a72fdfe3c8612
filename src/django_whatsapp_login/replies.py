"""Replies in WhatsApp to the person who sent a login message (opt-in: WHATSAPP_LOGIN_REPLIES).

=====================  ===========================================================
outcome                reply
=====================  ===========================================================
confirmed              ``logged_in``: site, browser and OS, time, "Not you? Reply NO"
unknown number         ``not_registered``
expired / used code    ``expired`` (refresh the page)
"NO" after a login     signs that login's session out, then ``signed_out``
anything else          nothing (not a login message, duplicates, rate limits, LID ...)
=====================  ===========================================================

Rules (SR-24): a reply is sent only after the outcome has committed
(``transaction.on_commit``), at most once per incoming message (a cache claim on the
chat id and message id), at most ``WHATSAPP_LOGIN_REPLIES_PER_HOUR`` per number, with a
short timeout and no retry. A failed send is logged and changes nothing: the login it
reports on is already committed.

An ``@lid`` sender gets no reply: Green API does not tell us the phone behind a LID, the
login is refused (attempts.py fails closed), and sending to LIDs has had delivery bugs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from . import attempts
from .conf import app_settings
from .greenapi import IncomingText
from .models import LoginAttempt, Reason, Status
from .phone import chat_id_to_phone, mask_phone, phone_digits

logger = logging.getLogger("django_whatsapp_login")

LOGGED_IN = "logged_in"
NOT_REGISTERED = "not_registered"
EXPIRED = "expired"
SIGNED_OUT = "signed_out"
KINDS = (LOGGED_IN, NOT_REGISTERED, EXPIRED, SIGNED_OUT)

#: attempts.handle_message reasons that mean "this code cannot be used any more".
EXPIRED_REASONS = frozenset({"expired", "stale_message", "attempt_closed", "unknown_code"})
#: How long the "already replied to this message" claim is kept (Green API retries 24 h).
CLAIM_TTL = 48 * 3600


# --- the user agent -------------------------------------------------------------------

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", Android
# also says "Linux", iPhones also say "Mac OS X".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("YaBrowser/", "Yandex Browser"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def parse_user_agent(user_agent: str) -> tuple[str, str]:
    """``(browser, operating system)`` from a User-Agent header; unknown parts are
    translated "unknown browser" / "unknown system". Deliberately coarse: no versions."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), "")
    system = next((name for token, name in _SYSTEMS if token in ua), "")
    return browser or _("unknown browser"), system or _("unknown system")


def site_name() -> str:
    """``WHATSAPP_LOGIN_SITE_NAME``, else the Sites framework's name, else the first
    concrete host of ``ALLOWED_HOSTS``."""
    if app_settings.SITE_NAME:
        return app_settings.SITE_NAME
    from django.apps import apps

    if apps.is_installed("django.contrib.sites") and getattr(settings, "SITE_ID", None):
        try:
            from django.contrib.sites.models import Site

            return Site.objects.get_current().name
        except Exception:  # no table or no row yet: fall back to the host
            logger.debug("No Sites framework name for replies", exc_info=True)
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return host
    return _("the site")


def no_words() -> set[str]:
    """The answers that mean "this was not me": ``NO`` and its translation."""
    with translation.override(app_settings.REPLY_LANGUAGE):
        # Translators: the word a user replies in WhatsApp to sign a login out. One word.
        translated = _("NO")
    return {"NO", attempts.normalize_text(translated)}


# --- the hook ---------------------------------------------------------------------------


def handle(message: IncomingText, outcome: attempts.Outcome) -> attempts.Outcome:
    """Called by the shared handler after ``attempts.handle_message``; returns the outcome
    (a "NO" that signed a login out becomes ``signed_out``). Does nothing with replies off."""
    if not app_settings.REPLIES:
        return outcome
    phone = chat_id_to_phone(message.sender)
    if phone is None:  # LID, group, broadcast: no number to answer
        return outcome
    if outcome.action == "confirmed" and outcome.attempt is not None:
        schedule(LOGGED_IN, message, phone, outcome.attempt)
    elif outcome.action == "rejected" and outcome.reason == Reason.UNKNOWN_NUMBER:
        schedule(NOT_REGISTERED, message, phone)
    elif outcome.action == "ignored" and outcome.reason in EXPIRED_REASONS:
        schedule(EXPIRED, message, phone)
    elif (
        outcome.action == "ignored"
        and outcome.reason == "no_login_text"
        and attempts.normalize_text(message.text) in no_words()
    ):
        return sign_out(message, phone)
    return outcome


def sign_out(message: IncomingText, phone: str) -> attempts.Outcome:
    """A "NO" from ``phone``: undo the latest login it confirmed within the window."""
    now = timezone.now()
    with transaction.atomic():
        if not attempts.first_delivery(message):
            return attempts.Outcome("duplicate")
        attempt = (
            LoginAttempt.objects.filter(
                sender_hash=attempts.sender_hash(phone),
                confirmed_at__gte=now - app_settings.SIGN_OUT_WINDOW,
                # A "NO" written before the login cannot be about it.
                confirmed_at__lte=datetime.fromtimestamp(message.timestamp, tz=dt_timezone.utc)
                + attempts.CLOCK_SKEW,
                status__in=[Status.CONFIRMED, Status.CONSUMED],
            )
            .exclude(status=Status.CONSUMED, session_key="")
            .order_by("-confirmed_at")
            .first()
        )
        if attempt is None or not attempts.revoke(attempt):
            return attempts.ignored("nothing_to_sign_out")
    logger.info("Login attempt %s signed out by a reply from %s", attempt.pk, mask_phone(phone))
    schedule(SIGNED_OUT, message, phone, attempt)
    return attempts.Outcome("signed_out", "", attempt)


def schedule(
    kind: str, message: IncomingText, phone: str, attempt: LoginAttempt | None = None
) -> None:
    """Send reply ``kind`` to ``phone`` once the current transaction commits."""
    context: dict[str, Any] = {}
    if attempt is not None:
        context = {
            "user_agent": attempt.user_agent,
            "at": attempt.confirmed_at or timezone.now(),
        }
    chat_id, message_id = message.chat_id, message.message_id
    transaction.on_commit(lambda: send(kind, phone, chat_id, message_id, **context), robust=True)


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


def render(kind: str, *, user_agent: str = "", at: Any = None) -> str:
    """The text of reply ``kind`` in ``WHATSAPP_LOGIN_REPLY_LANGUAGE``."""
    if kind not in KINDS:
        raise ValueError(f"Unknown reply kind: {kind!r}")
    with translation.override(app_settings.REPLY_LANGUAGE):
        browser, system = parse_user_agent(user_agent)
        when = timezone.localtime(at or timezone.now())
        context = {
            "site": site_name(),
            "browser": browser,
            "os": system,
            "time": formats.date_format(when, "DATETIME_FORMAT"),
            "no_word": _("NO"),
        }
        text = render_to_string(f"whatsapp_login/replies/{kind}.txt", context)
    return "\n\n".join(part.strip() for part in text.strip().split("\n\n") if part.strip())


def send(kind: str, phone: str, chat_id: str, message_id: str, **context: Any) -> bool:
    """Send one reply now; True when Green API accepted it. Never raises."""
    from .client import GreenAPIClient, redact

    try:
        if not _claim(chat_id, message_id):
            return False
        if not _under_cap(phone):
            logger.info(
                "WhatsApp reply (%s) to %s skipped: hourly cap reached", kind, mask_phone(phone)
            )
            return False
        text = render(kind, **context)
        timeout = app_settings.REPLY_TIMEOUT
        with GreenAPIClient.from_settings(timeout=timeout, max_retries=0) as client:
            client.send_message(phone_digits(phone) + "@c.us", text, timeout=timeout, max_retries=0)
    except Exception as err:  # a reply must never break or undo a login
        logger.warning("WhatsApp reply (%s) to %s failed: %s", kind, mask_phone(phone), redact(err))
        return False
    logger.info("WhatsApp reply (%s) sent to %s", kind, mask_phone(phone))
    return True


__all__ = ["handle", "parse_user_agent", "render", "schedule", "send", "sign_out", "site_name"]
