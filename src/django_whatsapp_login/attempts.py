"""The login attempt state machine. Every state change of a LoginAttempt happens here.

    pending ──message from a known number──▶ confirmed ──browser completes──▶ consumed
       │                                        │
       ├── TTL passes ──▶ expired               ├── another number sends the code ──▶ rejected
       └── unknown / inactive / LID sender ──▶ rejected   (inactive at completion ──▶ rejected)

Each transition is one conditional ``UPDATE ... WHERE status = <from> AND expires_at > now``
whose row count decides who won, so two webhooks or two tabs can never both succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import ratelimit, signals
from .conf import app_settings
from .greenapi import IncomingText
from .models import LoginAttempt, ProcessedMessage, Purpose, Reason, Status
from .phone import chat_id_to_phone, is_lid, mask_phone, phone_digits
from .resolvers import resolve

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger("django_whatsapp_login")

SESSION_KEY = "_whatsapp_login"
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32: 5 bits a character
CODE_LENGTH = 16  # 80 bits
#: How far before the attempt's creation a message timestamp may be (clock skew).
CLOCK_SKEW = timedelta(seconds=5)


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def sender_hash(phone: str) -> str:
    # Keyed: phone numbers are guessable, so a plain hash would be reversible.
    return salted_hmac("django_whatsapp_login.sender", phone, algorithm="sha256").hexdigest()


# --- the message text -----------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, drop format characters (zero-width, bidi marks, BOM), collapse blanks, upper-case."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split()).upper()


def _code_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(normalize_text(prefix)) + rf" ([A-Z2-7]{{{CODE_LENGTH}}})", re.ASCII
    )


def match_code(text: str) -> str | None:
    """The code if ``text`` is exactly ``<PREFIX> <CODE>`` after normalisation, else None."""
    match = _code_pattern(app_settings.MESSAGE_PREFIX).fullmatch(normalize_text(text))
    return match.group(1) if match else None


def login_message(code: str) -> str:
    return f"{app_settings.MESSAGE_PREFIX} {code}"


def wa_link(code: str) -> str:
    text = quote(login_message(code), safe="")
    return f"https://wa.me/{phone_digits(app_settings.BUSINESS_PHONE)}?text={text}"


# --- the browser side -----------------------------------------------------------------


def _session_data(request: HttpRequest) -> dict[str, Any] | None:
    data = request.session.get(SESSION_KEY)
    if (
        isinstance(data, dict)
        and isinstance(data.get("id"), int)
        and isinstance(data.get("binding"), str)
        and isinstance(data.get("code"), str)
    ):
        return data
    return None


def session_binds(request: HttpRequest, attempt: LoginAttempt) -> bool:
    """True when this request's session created ``attempt`` (the >=128-bit binding)."""
    data = _session_data(request)
    if data is None or data["id"] != attempt.pk:
        return False
    return hmac.compare_digest(hash_secret(data["binding"]), attempt.binding_hash)


def get_session_attempt(request: HttpRequest) -> LoginAttempt | None:
    """The attempt this browser session created, or None. Knowing a code is never enough."""
    data = _session_data(request)
    if data is None:
        return None
    attempt = LoginAttempt.objects.filter(pk=data["id"]).first()
    if attempt is None or not session_binds(request, attempt):
        return None
    return attempt


def session_code(request: HttpRequest) -> str:
    data = _session_data(request)
    return data["code"] if data else ""


def session_attempt_id(request: HttpRequest) -> int | None:
    """The id of this session's attempt without a query (for rate-limit keys)."""
    data = _session_data(request)
    return data["id"] if data else None


def live_session_attempt(request: HttpRequest) -> LoginAttempt | None:
    """This session's attempt if it is still pending or confirmed and not expired."""
    current = get_session_attempt(request)
    if current is not None and current.public_status in (Status.PENDING, Status.CONFIRMED):
        return current
    return None


def start_attempt(
    request: HttpRequest,
    before_create: Callable[[], None] | None = None,
    *,
    purpose: str = Purpose.LOGIN,
    user: AbstractBaseUser | None = None,
) -> tuple[LoginAttempt, str]:
    """Return this session's live attempt and its code, or create a new one.

    A pending or confirmed attempt of the same ``purpose`` (and user) that has not expired
    is reused, so reloading the page does not create rows. Anything else is replaced (one
    live attempt per session). ``before_create`` runs only when a new attempt is about to
    be made (the views pass the rate-limit check; it raises to refuse).
    """
    current = live_session_attempt(request)
    if (
        current is not None
        and current.purpose == purpose
        and (user is None or current.user_id == user.pk)
    ):
        return current, session_code(request)
    if before_create is not None:
        before_create()
    return create_attempt(request, purpose=purpose, user=user)


def create_attempt(
    request: HttpRequest,
    *,
    purpose: str = Purpose.LOGIN,
    user: AbstractBaseUser | None = None,
) -> tuple[LoginAttempt, str]:
    """A new attempt for this session; a still-open predecessor is closed as superseded.

    ``purpose`` is ``"login"`` (sending the code logs the browser in) or ``"link"``
    (sending it links the sender's WhatsApp ids to ``user``, the logged-in user).
    """
    if purpose == Purpose.LINK and user is None:
        raise ValueError("A link attempt needs the user to link to.")
    now = timezone.now()
    previous = session_attempt_id(request)
    if previous is not None:
        LoginAttempt.objects.filter(
            pk=previous, status__in=[Status.PENDING, Status.CONFIRMED]
        ).update(
            status=Status.EXPIRED,
            reason=Case(
                When(expires_at__lte=now, then=Value(Reason.EXPIRED)),
                default=Value(Reason.SUPERSEDED),
            ),
            closed_at=now,
        )
    code, binding = generate_code(), secrets.token_urlsafe(32)
    attempt = LoginAttempt.objects.create(
        code_hash=hash_secret(code),
        binding_hash=hash_secret(binding),
        created_at=now,
        expires_at=now + app_settings.ATTEMPT_TTL,
        client_ip=ratelimit.client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:256],
        purpose=purpose,
        user_id=user.pk if purpose == Purpose.LINK and user is not None else None,
    )
    request.session[SESSION_KEY] = {"id": attempt.pk, "binding": binding, "code": code}
    logger.info("Login attempt %s created", attempt.pk)
    transaction.on_commit(
        lambda: signals.attempt_created.send(sender=LoginAttempt, attempt=attempt, request=request)
    )
    return attempt, code


def forget_session_attempt(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def consume(attempt: LoginAttempt, can_authenticate: Any) -> AbstractBaseUser | None:
    """confirmed -> consumed, re-checking the user at this moment. Returns the user or None."""
    now = timezone.now()
    user_model = get_user_model()
    user = (
        user_model._default_manager.filter(pk=attempt.user_id).first()
        if attempt.user_id is not None
        else None
    )
    if user is None or not can_authenticate(user):
        if _transition(
            attempt,
            [Status.CONFIRMED],
            now=now,
            status=Status.REJECTED,
            reason=Reason.INACTIVE_USER,
            closed_at=now,
        ):
            _log_rejected(attempt, Reason.INACTIVE_USER, None)
        return None
    if not _transition(
        attempt,
        [Status.CONFIRMED],
        now=now,
        status=Status.CONSUMED,
        reason=Reason.LOGGED_IN,
        closed_at=now,
    ):
        return None
    logger.info("Login attempt %s consumed", attempt.pk)
    return user


# --- signing a login out from WhatsApp ("Not you? Reply NO", see replies.py) -----------


def remember_session(attempt: LoginAttempt, request: HttpRequest) -> None:
    """Store the session that completing ``attempt`` created (call after ``login()``).

    Only that session can later be signed out by a "NO" reply; the user's other sessions
    are not touched. Keys longer than the column (cookie-based sessions, which cannot be
    revoked server-side anyway) are not stored.
    """
    if request.session.session_key is None:
        request.session.save()
    key = request.session.session_key or ""
    max_length: int = getattr(LoginAttempt._meta.get_field("session_key"), "max_length", 0)
    if key and len(key) <= max_length:
        LoginAttempt.objects.filter(pk=attempt.pk).update(session_key=key)
        attempt.session_key = key


def revoke(attempt: LoginAttempt) -> bool:
    """Undo the login ``attempt`` made, whatever stage it reached. True if this call did it.

    A confirmed attempt is rejected (the browser can no longer complete it); a consumed one
    loses its session: the row is cleared first with a conditional UPDATE (so two "NO"s
    delete once), then the session is deleted through ``SESSION_ENGINE``.
    """
    from importlib import import_module

    from django.conf import settings

    now = timezone.now()
    if _transition(
        attempt,
        [Status.CONFIRMED],
        now=now,
        require_live=False,
        status=Status.REJECTED,
        reason=Reason.SIGNED_OUT,
        closed_at=now,
    ):
        _log_rejected(attempt, Reason.SIGNED_OUT, None)
        return True
    key = attempt.session_key
    if not key or not LoginAttempt.objects.filter(
        pk=attempt.pk, status=Status.CONSUMED, session_key=key
    ).update(session_key="", reason=Reason.SIGNED_OUT):
        return False
    import_module(settings.SESSION_ENGINE).SessionStore().delete(key)
    attempt.session_key, attempt.reason = "", Reason.SIGNED_OUT
    logger.info("Login attempt %s signed out from WhatsApp", attempt.pk)
    return True


# --- the WhatsApp side ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What handling one delivery did: ``confirmed``, ``rejected``, ``duplicate`` or ``ignored``."""

    action: str
    reason: str = ""
    attempt: LoginAttempt | None = None


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


def first_delivery(message: IncomingText) -> bool:
    """Record ``message`` as handled; False if it already was (a re-delivery).

    Call inside ``transaction.atomic()`` together with the state change it guards: the
    unique (chat id, message id) row commits with it or not at all.
    """
    try:
        with transaction.atomic():
            ProcessedMessage.objects.create(chat_id=message.chat_id, message_id=message.message_id)
    except IntegrityError:
        return False
    return True


#: Outcomes that count against the sender's failure limit (RATE_LIMIT_FAILED).
FAILURES = frozenset({"unknown_code", "expired", "stale_message", "attempt_closed", "rejected"})


def handle_message(message: IncomingText, request: HttpRequest | None = None) -> Outcome:
    """Apply one authenticated, parsed incoming message to the attempt it names.

    The processed-message row and the state change commit together, so a delivery is
    either fully applied once or not at all (and then Green API's retry applies it).
    Messages that are not a login text cost no query.
    """
    if not _personal_chat(message):
        return ignored("not_personal_chat")
    code = match_code(message.text)
    if code is None:
        return ignored("no_login_text")
    phone = chat_id_to_phone(message.sender)
    if phone is None and not is_lid(message.sender):
        return ignored("not_personal_chat")  # broadcast, newsletter, anything unknown
    limit_key = {"phone": phone or message.sender}
    if ratelimit.peek("failed", app_settings.RATE_LIMIT_FAILED, limit_key):
        logger.warning(
            "Login message dropped: too many failures from %s", mask_phone(message.sender)
        )
        return ignored("rate_limited")
    with transaction.atomic():
        if not first_delivery(message):
            return Outcome("duplicate")
        attempt = LoginAttempt.objects.filter(code_hash=hash_secret(code)).first()
        if attempt is None:
            logger.info("Login message for an unknown code from %s", mask_phone(message.sender))
            outcome = ignored("unknown_code")
        elif ratelimit.hit("confirm", app_settings.RATE_LIMIT_CONFIRM, limit_key):
            logger.warning("Login message dropped: too many from %s", mask_phone(message.sender))
            outcome = _reject(
                attempt,
                [Status.PENDING],
                Reason.RATE_LIMITED,
                chat_id_to_phone(message.sender),
                timezone.now(),
            )
            outcome = Outcome(outcome.action, "rate_limited", outcome.attempt)
        else:
            outcome = _apply(attempt, message, request)
    if outcome.action == "rejected" or outcome.reason in FAILURES:
        ratelimit.hit("failed", app_settings.RATE_LIMIT_FAILED, limit_key)
    return outcome


def _personal_chat(message: IncomingText) -> bool:
    """The chat is the sender's own (not a group): ``chatId`` and ``sender`` name one person.

    The sender may carry a device suffix that the chat id lacks (``…:3@c.us``).
    """
    if message.chat_id == message.sender:
        return True
    phone = chat_id_to_phone(message.chat_id)
    return phone is not None and phone == chat_id_to_phone(message.sender)


def _apply(attempt: LoginAttempt, message: IncomingText, request: HttpRequest | None) -> Outcome:
    now = timezone.now()
    phone = chat_id_to_phone(message.sender)
    if phone is None:
        if is_lid(message.sender):
            # The digits of a LID are not a phone number: fail closed.
            return _reject(
                attempt, [Status.PENDING, Status.CONFIRMED], Reason.LID_SENDER, None, now
            )
        return ignored("not_personal_chat")

    if attempt.status == Status.CONFIRMED and not attempt.is_expired(now):
        if hmac.compare_digest(attempt.sender_hash, sender_hash(phone)):
            return Outcome("duplicate", "already_confirmed", attempt)
        # Someone else sends a code that is already confirmed: the code leaked (login
        # CSRF or a relay). Nobody gets this login.
        return _reject(attempt, [Status.CONFIRMED], Reason.CONFLICTING_SENDER, phone, now)
    if attempt.status != Status.PENDING:
        return ignored("attempt_closed")
    if attempt.is_expired(now):
        _transition(
            attempt,
            [Status.PENDING],
            now=now,
            require_live=False,
            status=Status.EXPIRED,
            reason=Reason.EXPIRED,
            closed_at=now,
        )
        return ignored("expired")
    sent_at = message.timestamp
    if (
        not (attempt.created_at - CLOCK_SKEW).timestamp()
        <= sent_at
        <= attempt.expires_at.timestamp()
    ):
        return ignored("stale_message")

    user, failure = resolve(phone, attempt=attempt, request=request, message=message)
    if user is None:
        return _reject(attempt, [Status.PENDING], Reason(failure), phone, now)
    from .backends import WhatsAppLoginBackend

    if not WhatsAppLoginBackend().user_can_authenticate(user):
        return _reject(attempt, [Status.PENDING], Reason.INACTIVE_USER, phone, now)

    confirmed = _transition(
        attempt,
        [Status.PENDING],
        now=now,
        status=Status.CONFIRMED,
        reason=Reason.CONFIRMED,
        user=user,
        sender_hash=sender_hash(phone),
        sender_masked=mask_phone(phone),
        confirmed_at=now,
    )
    if not confirmed:
        # Lost a race: another delivery changed the attempt first. Judge again on fresh data.
        attempt.refresh_from_db()
        if attempt.status == Status.CONFIRMED and not hmac.compare_digest(
            attempt.sender_hash, sender_hash(phone)
        ):
            return _reject(attempt, [Status.CONFIRMED], Reason.CONFLICTING_SENDER, phone, now)
        return ignored("attempt_closed")
    logger.info("Login attempt %s confirmed by %s", attempt.pk, mask_phone(phone))
    message_id = message.message_id
    transaction.on_commit(
        lambda: signals.attempt_confirmed.send(
            sender=LoginAttempt, attempt=attempt, user=user, phone=phone, message_id=message_id
        )
    )
    return Outcome("confirmed", "", attempt)


def _reject(
    attempt: LoginAttempt,
    from_statuses: list[Status],
    reason: Reason,
    phone: str | None,
    now: Any,
) -> Outcome:
    changes: dict[str, Any] = {"status": Status.REJECTED, "reason": reason, "closed_at": now}
    if phone and not attempt.sender_masked:
        changes["sender_masked"] = mask_phone(phone)
    if not _transition(attempt, from_statuses, now=now, **changes):
        return ignored("attempt_closed")
    _log_rejected(attempt, reason, phone)
    return Outcome("rejected", str(reason), attempt)


def _log_rejected(attempt: LoginAttempt, reason: str, phone: str | None) -> None:
    logger.info("Login attempt %s rejected (%s) for %s", attempt.pk, reason, mask_phone(phone))
    transaction.on_commit(
        lambda: signals.attempt_rejected.send(
            sender=LoginAttempt, attempt=attempt, reason=str(reason), phone=phone
        )
    )


def _transition(
    attempt: LoginAttempt,
    from_statuses: list[Status],
    *,
    now: Any,
    require_live: bool = True,
    **changes: Any,
) -> bool:
    """One conditional UPDATE; True if this call made the change (and ``attempt`` reflects it)."""
    rows = LoginAttempt.objects.filter(pk=attempt.pk, status__in=from_statuses)
    if require_live:
        rows = rows.filter(expires_at__gt=now)
    if rows.update(**changes) != 1:
        return False
    for field, value in changes.items():
        setattr(attempt, field, value)
    return True
