"""The login attempt state machine. Every state change of a LoginAttempt happens here.

    pending ──message naming exactly one user──▶ confirmed ──browser completes──▶ consumed
       │  │                                         │                 (the LID is learned)
       │  └─(new device / "always")─▶ awaiting_confirmation ──YES──▶ confirmed
       │                                  ├── NO ──▶ rejected (declined)
       │                                  └── question not sent ──▶ rejected (confirmation_unsent)
       ├── TTL passes / message outside it ──▶ expired  ├── another sender ──▶ rejected
       ├── unknown / shared / inactive / conflicting ids ──▶ rejected
       ├── forwarded login text ──▶ rejected (forwarded)
       ├── unknown LID alone ──▶ rejected (lid_sender) ──phone fallback──▶ confirmed (or asked)
       └── (link attempts) message from the sender ──▶ consumed (linked)

Each transition is one conditional ``UPDATE ... WHERE status = <from> AND expires_at > now``
whose row count decides who won, so two webhooks or two tabs can never both succeed.
Who sent a message is decided by ``identities.resolve_sender``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from . import devices, identities, live, ratelimit, signals
from .conf import app_settings
from .context import parse_user_agent, place_for_request
from .gateways.base import Message
from .models import IdentitySource, LoginAttempt, ProcessedMessage, Purpose, Reason, Status
from .phone import mask_phone, phone_digits
from .resolvers import resolve
from .senders import SenderIds

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger("django_whatsapp_login")

SESSION_KEY = "_whatsapp_login"
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32: 5 bits a character
CODE_LENGTH = 16  # 80 bits
#: How far before the attempt's creation a message timestamp may be (clock skew).
CLOCK_SKEW = timedelta(seconds=5)
#: Attempts whose code still counts: the browser keeps waiting on them.
LIVE_STATUSES = (Status.PENDING, Status.AWAITING_CONFIRMATION, Status.CONFIRMED)


def generate_code() -> str:
    # CODE_LENGTH base32 characters are exactly CODE_LENGTH * 5 random bits: base32 of
    # that many random bytes is the same uniform code as a secrets.choice per character,
    # for one call into the system's random source instead of sixteen.
    code = base64.b32encode(secrets.token_bytes(CODE_LENGTH * 5 // 8)).decode("ascii")
    return code[:CODE_LENGTH]


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


#: The cookie holding the browser-binding secret. ``__Host-`` makes browsers refuse it
#: unless this very host set it over https with ``Secure`` and ``Path=/`` and no
#: ``Domain``: a sibling subdomain cannot plant or overwrite it (cookie tossing).
BINDING_COOKIE = "__Host-whatsapp_login"
#: The name on plain http (development, tests), where browsers refuse ``__Host-`` cookies.
#: Without the prefix a sibling subdomain could set it: use https in production.
INSECURE_BINDING_COOKIE = "whatsapp_login"
_PENDING_COOKIE_ATTR = "_whatsapp_login_binding_cookie"


def binding_cookie_name(request: HttpRequest) -> str:
    return BINDING_COOKIE if request.is_secure() else INSECURE_BINDING_COOKIE


def _binding_hash(session_secret: str, cookie_secret: str) -> str:
    return hash_secret(f"{session_secret}.{cookie_secret}")


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


def _cookie_secret(request: HttpRequest, data: dict[str, Any]) -> str | None:
    """The browser half of the binding: the binding cookie, or, once, the secret that
    :func:`create_attempt` left in the session because no response carried the cookie yet
    (a widget rendered by a view of the host app without the middleware). That secret is
    taken out of the session and sent as the cookie by :func:`attach_binding_cookie`, so
    it is accepted for one request only; the session key was rotated when it was made."""
    cookie = request.COOKIES.get(binding_cookie_name(request))
    if cookie:
        return cookie
    pending = data.get("browser")
    if not isinstance(pending, str):
        return None
    data = dict(data)
    del data["browser"]
    request.session[SESSION_KEY] = data
    setattr(request, _PENDING_COOKIE_ATTR, pending)
    return pending


def attach_binding_cookie(request: HttpRequest, response: Any) -> Any:
    """Put the binding cookie a new attempt made on ``response``, and the browser's new
    known-device cookie if it got one (views and the middleware call this; safe to call
    more than once)."""
    devices.attach_cookie(request, response)
    secret = getattr(request, _PENDING_COOKIE_ATTR, None)
    if not secret:
        return response
    data = request.session.get(SESSION_KEY)
    if isinstance(data, dict) and "browser" in data:
        data = dict(data)
        del data["browser"]
        request.session[SESSION_KEY] = data
    response.set_cookie(
        binding_cookie_name(request),
        secret,
        max_age=int(app_settings.ATTEMPT_TTL.total_seconds()) + 60,
        path="/",
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    setattr(request, _PENDING_COOKIE_ATTR, None)
    return response


def session_binds(request: HttpRequest, attempt: LoginAttempt) -> bool:
    """True when this browser created ``attempt``: its session names the attempt and holds
    the session half of the binding, and its binding cookie holds the other half (>= 128
    bits each, compared in constant time against the hash kept on the attempt)."""
    return session_binds_hash(request, attempt.pk, attempt.binding_hash)


def session_binds_hash(request: HttpRequest, attempt_id: int, binding_hash: str) -> bool:
    """:func:`session_binds` for an attempt known only by its id and binding hash (the
    status poll's cached state: no instance needed)."""
    data = _session_data(request)
    if data is None or data["id"] != attempt_id:
        return False
    cookie = _cookie_secret(request, data)
    if not cookie:
        return False
    return hmac.compare_digest(_binding_hash(data["binding"], cookie), binding_hash)


def get_session_attempt(request: HttpRequest, *, with_user: bool = False) -> LoginAttempt | None:
    """The attempt this browser session created, or None. Knowing a code is never enough.

    ``with_user=True`` reads the attempt's user in the same query (``complete``: the
    backend then re-checks that row instead of reading it again)."""
    data = _session_data(request)
    if data is None:
        return None
    rows = LoginAttempt.objects.filter(pk=data["id"])
    if with_user:
        rows = rows.select_related("user")
    attempt = rows.first()
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
    """This session's attempt if it is still pending, awaiting the user's YES or
    confirmed, and not expired."""
    current = get_session_attempt(request)
    if current is not None and current.public_status in LIVE_STATUSES:
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

    A live attempt (pending, awaiting YES or confirmed) of the same ``purpose`` (and user)
    that has not expired is reused, so reloading the page does not create rows. Anything
    else is replaced (one live attempt per session). ``before_create`` runs only when a new
    attempt is about to be made (the views pass the rate-limit check; it raises to refuse).
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
        LoginAttempt.objects.filter(pk=previous, status__in=LIVE_STATUSES).update(
            status=Status.EXPIRED,
            reason=Case(
                When(expires_at__lte=now, then=Value(Reason.EXPIRED)),
                default=Value(Reason.SUPERSEDED),
            ),
            closed_at=now,
        )
    # A session cookie planted before this point (cookie tossing from a sibling
    # subdomain, or an attacker's own session) must not share this attempt: new key.
    # The session was loaded above (session_attempt_id): no key now means the browser
    # brought no session the store knows, and Django gives a new session a key of its
    # own making when it saves it, so there is nothing to rotate (and a first visit saves
    # its session once instead of creating it here and updating it at the response).
    if request.session.session_key is not None:
        request.session.cycle_key()
    code, binding, cookie = generate_code(), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    attempt = LoginAttempt.objects.create(
        code_hash=hash_secret(code),
        binding_hash=_binding_hash(binding, cookie),
        created_at=now,
        expires_at=now + app_settings.ATTEMPT_TTL,
        client_ip=ratelimit.client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:256],
        client_place=place_for_request(request),
        device_hash=devices.device_hash_for(request),
        purpose=purpose,
        user_id=user.pk if purpose == Purpose.LINK and user is not None else None,
    )
    request.session[SESSION_KEY] = {
        "id": attempt.pk,
        "binding": binding,
        "code": code,
        "browser": cookie,  # until a response carries the binding cookie
    }
    setattr(request, _PENDING_COOKIE_ATTR, cookie)
    logger.info("Login attempt %s created", attempt.pk)
    transaction.on_commit(lambda: live.publish(attempt))  # the cached state (issue 11)
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
    if attempt.user_id is None:
        user = None
    elif LoginAttempt.user.is_cached(attempt) and not _default_manager_filters(user_model):
        # Read with the attempt in this request (get_session_attempt(with_user=True)).
        user = attempt.user
    else:
        user = user_model._default_manager.filter(pk=attempt.user_id).first()
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
    confirmed_by = attempt.reason
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
    # The login succeeded: the LID or business-scoped user id that came with it is now
    # known to be this user's, so a later message carrying only that id logs the same user
    # in. An id that is already another user's is logged and left alone; it never fails
    # this login.
    source = (
        IdentitySource.LOOKUP if confirmed_by == Reason.LOOKUP_CONFIRMED else IdentitySource.TRAFFIC
    )
    for learned in (attempt.sender_lid, attempt.sender_bsuid):
        if learned:
            identities.learn(user, learned, source=source)
    # A browser the user confirmed (or already knew) stays known: no question next time.
    # The label (ua-parser, about 1 ms for a User-Agent not seen yet) only if it is stored.
    devices.remember(attempt, user, label=lambda: _device_label(attempt))
    return user


def _default_manager_filters(user_model: Any) -> bool:
    """Does the user model's default manager hide rows (soft-deleted users...)? Then a
    user read through the attempt's relation is not trusted; the manager is asked."""
    return bool(user_model._default_manager.all().query.has_filters())


def _device_label(attempt: LoginAttempt) -> str:
    browser, system = parse_user_agent(attempt.user_agent)
    return f"{browser}, {system}, {attempt.client_place}".strip(", ")


def confirm_by_lookup(attempt: LoginAttempt, user: AbstractBaseUser, phone: str) -> bool:
    """rejected (``lid_sender``) -> confirmed, once the login page's phone fallback showed
    that ``phone`` is the number of the LID that sent the code. Live attempts only; one
    conditional UPDATE, so two tries at once confirm at most once.

    When the login needs a YES (``WHATSAPP_LOGIN_CONFIRM``) the attempt goes to
    ``awaiting_confirmation`` instead: whoever typed the number on the page is not
    necessarily the person whose WhatsApp sent the code. The caller then sends the
    question (``replies.schedule_question``) to the LID's chat.
    """
    now = timezone.now()
    ask = devices.needs_confirmation(attempt, user)
    changes: dict[str, Any] = {
        "status": Status.AWAITING_CONFIRMATION if ask else Status.CONFIRMED,
        "reason": Reason.LOOKUP_CONFIRMED,
        "user": user,
        "sender_hash": sender_hash(phone),
        "sender_masked": mask_phone(phone),
        "closed_at": None,
    }
    changes.update({"asked_at": now} if ask else {"confirmed_at": now})
    rows = LoginAttempt.objects.filter(
        pk=attempt.pk,
        purpose=Purpose.LOGIN,
        status=Status.REJECTED,
        reason=Reason.LID_SENDER,
        sender_lid=attempt.sender_lid,
        expires_at__gt=now,
    ).exclude(sender_lid="")
    if rows.update(**changes) != 1:
        return False
    for name, value in changes.items():
        setattr(attempt, name, value)
    transaction.on_commit(lambda: live.publish(attempt))  # the cached state (issue 11)
    if ask:
        logger.info(
            "Login attempt %s awaits YES after the phone fallback (%s)",
            attempt.pk,
            mask_phone(phone),
        )
        return True
    logger.info(
        "Login attempt %s confirmed by the phone fallback (%s)", attempt.pk, mask_phone(phone)
    )
    _send_confirmed(attempt, user, phone, attempt.sender_lid, None)
    return True


# --- signing a login out from WhatsApp ("Not you? Reply NO", see replies.py) -----------

#: In a session that a WhatsApp login created: ``{"attempt": id, "user": pk, "at": unix}``.
#: ``RevocationMiddleware`` checks the attempt on each request (a "NO" in WhatsApp ends
#: the session even after its key was rotated, and with signed-cookie sessions), and
#: :func:`django_whatsapp_login.auth.whatsapp_login_age` reads the time.
LOGIN_SESSION_KEY = "_whatsapp_login_auth"
REVOCATION_MIDDLEWARE = "django_whatsapp_login.middleware.RevocationMiddleware"


def login_marker(request: HttpRequest) -> dict[str, Any] | None:
    """The marker :func:`remember_session` left in this session, or None."""
    session = getattr(request, "session", None)
    data = session.get(LOGIN_SESSION_KEY) if session is not None else None
    if (
        isinstance(data, dict)
        and isinstance(data.get("attempt"), int)
        and isinstance(data.get("user"), str)
        and isinstance(data.get("at"), (int, float))
    ):
        return data
    return None


def remember_session(attempt: LoginAttempt, request: HttpRequest) -> None:
    """Mark the session that completing ``attempt`` created (call after ``login()``).

    The session keeps the attempt's id and the login time (the revocation marker, see
    :data:`LOGIN_SESSION_KEY`); the attempt keeps the session key too, for server-side
    session engines, so a "NO" can delete that session even without the middleware.
    Keys longer than the column (cookie-based sessions) are not stored.
    """
    request.session[LOGIN_SESSION_KEY] = {
        "attempt": attempt.pk,
        "user": str(attempt.user_id),
        "at": int(time.time()),
    }
    if request.session.session_key is None:
        request.session.save()
    key = request.session.session_key or ""
    max_length: int = getattr(LoginAttempt._meta.get_field("session_key"), "max_length", 0)
    if key and len(key) <= max_length:
        LoginAttempt.objects.filter(pk=attempt.pk).update(session_key=key)
        attempt.session_key = key


def is_revoked(attempt_id: int) -> bool:
    """True if the login of attempt ``attempt_id`` was signed out from WhatsApp. One query
    on the primary key (the middleware's per-request cost)."""
    return LoginAttempt.objects.filter(pk=attempt_id, reason=Reason.SIGNED_OUT).exists()


def revocation_enforced() -> bool:
    """``RevocationMiddleware`` is installed: a revoked login's session ends on its next
    request whatever its key and session engine."""
    from django.conf import settings

    return REVOCATION_MIDDLEWARE in getattr(settings, "MIDDLEWARE", [])


def revoke(attempt: LoginAttempt) -> bool:
    """Undo the login ``attempt`` made, whatever stage it reached. True only if a login
    really ended: a confirmed attempt can no longer be completed, or a session is gone.

    A confirmed attempt is rejected. A consumed one is marked signed out with one
    conditional UPDATE (two "NO"s revoke once); its session then ends because
    ``RevocationMiddleware`` refuses it on its next request (rotated keys and signed-cookie
    sessions included), and the session key stored at login is deleted through
    ``SESSION_ENGINE`` when that session still exists. Without the middleware, a login
    whose stored session is gone (rotated key, cookie sessions) cannot be ended: False.
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
    enforced = revocation_enforced()
    key = attempt.session_key
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    deletable = bool(key) and store.exists(key)
    if not (enforced or deletable):
        logger.warning(
            "Login attempt %s cannot be signed out: its session key changed (or the sessions "
            "live in cookies) and %s is not in MIDDLEWARE",
            attempt.pk,
            REVOCATION_MIDDLEWARE,
        )
        return False
    rows = LoginAttempt.objects.filter(pk=attempt.pk, status=Status.CONSUMED).exclude(
        reason=Reason.SIGNED_OUT
    )
    if not rows.update(session_key="", reason=Reason.SIGNED_OUT):
        return False
    if deletable:
        store.delete(key)
    attempt.session_key, attempt.reason = "", Reason.SIGNED_OUT
    logger.info("Login attempt %s signed out from WhatsApp", attempt.pk)
    return True


# --- the WhatsApp side ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What handling one delivery did: ``confirmed``, ``awaiting_confirmation`` (the YES/NO
    question is to be sent), ``rejected``, ``linked``, ``signed_out``, ``duplicate`` or
    ``ignored``."""

    action: str
    reason: str = ""
    attempt: LoginAttempt | None = None


#: The outcome whose question ``replies.handle`` sends.
AWAITING = "awaiting_confirmation"


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


def first_delivery(message: Message) -> bool:
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


def handle_message(message: Message, request: HttpRequest | None = None) -> Outcome:
    """Apply one authenticated, parsed incoming message to the attempt it names.

    The processed-message row and the state change commit together, so a delivery is
    either fully applied once or not at all (and then Green API's retry applies it).
    Messages that are not a login text cost no query. A login text from a personal chat
    that names a live attempt always settles it: confirmed, or rejected with a reason
    (expired when its timestamp is outside the code's lifetime); the page never keeps
    waiting for a message that has arrived.
    """
    senders = message.senders
    if senders is None:
        return ignored("not_personal_chat")  # group, broadcast, newsletter, unknown kind
    code = match_code(message.text) if not message.button_id else None
    if code is None:
        answer = match_answer(message.text, button_id=message.button_id)
        if answer is not None:
            if message.forwarded:
                return ignored("forwarded")  # a forwarded answer is somebody else's (T3)
            return handle_answer(message, senders, answer)
        return ignored("no_login_text")
    # The phone when the delivery has one, else the LID: a stable id either way.
    limit_key = {"phone": senders.key or None}
    if ratelimit.peek("failed", app_settings.RATE_LIMIT_FAILED, limit_key):
        logger.warning("Login message dropped: too many failures from %s", senders.masked)
        return _settle_rate_limited(message, code, senders)
    recorded = False
    try:
        # The processed-message row is the block's first statement, so a re-delivery (its
        # unique key) rolls back nothing else and needs no savepoint of its own (two
        # statements fewer than first_delivery() on every login message).
        with transaction.atomic():
            ProcessedMessage.objects.create(chat_id=message.chat_id, message_id=message.message_id)
            recorded = True
            outcome = _settle_login_text(message, code, senders, limit_key, request)
    except IntegrityError:
        if recorded:
            raise
        return Outcome("duplicate")
    if outcome.action == "rejected" or outcome.reason in FAILURES:
        ratelimit.hit("failed", app_settings.RATE_LIMIT_FAILED, limit_key)
    return outcome


def _settle_login_text(
    message: Message,
    code: str,
    senders: SenderIds,
    limit_key: dict[str, str | None],
    request: HttpRequest | None,
) -> Outcome:
    """The attempt a login text names, judged (inside handle_message's transaction)."""
    attempt = LoginAttempt.objects.filter(code_hash=hash_secret(code)).first()
    if attempt is None:
        logger.info("Login message for an unknown code from %s", senders.masked)
        outcome = ignored("unknown_code")
    elif ratelimit.hit("confirm", app_settings.RATE_LIMIT_CONFIRM, limit_key):
        logger.warning("Login message dropped: too many from %s", senders.masked)
        outcome = _reject(attempt, [Status.PENDING], Reason.RATE_LIMITED, senders, timezone.now())
        outcome = Outcome(outcome.action, "rate_limited", outcome.attempt)
    else:
        outcome = _apply(attempt, message, senders, request)
    return outcome


def _settle_rate_limited(message: Message, code: str, senders: SenderIds) -> Outcome:
    """A sender over the failure limit: no resolution, but a live attempt the message
    names is rejected (``rate_limited``) so its page stops waiting. One indexed lookup."""
    attempt = LoginAttempt.objects.filter(code_hash=hash_secret(code)).first()
    if attempt is None:
        return ignored("rate_limited")
    with transaction.atomic():
        if not first_delivery(message):
            return Outcome("duplicate")
        outcome = _reject(attempt, [Status.PENDING], Reason.RATE_LIMITED, senders, timezone.now())
    return Outcome(outcome.action, "rate_limited", outcome.attempt)


def _same_sender(attempt: LoginAttempt, senders: SenderIds) -> bool:
    """Did ``senders`` confirm ``attempt``? By the keyed hash of its phone or LID, or by its
    LID or business-scoped user id (a later delivery of the same person may carry only one
    of them)."""
    if any(
        hmac.compare_digest(attempt.sender_hash, sender_hash(ident.value)) for ident in senders.ids
    ):
        return True
    if attempt.sender_bsuid and attempt.sender_bsuid in senders.bsuids:
        return True
    return bool(attempt.sender_lid) and attempt.sender_lid in senders.lids


def _apply(
    attempt: LoginAttempt,
    message: Message,
    senders: SenderIds,
    request: HttpRequest | None,
) -> Outcome:
    now = timezone.now()
    if attempt.status in (
        Status.CONFIRMED,
        Status.AWAITING_CONFIRMATION,
    ) and not attempt.is_expired(now):
        return _confirmed_again(attempt, message, senders, request, now)
    if attempt.status != Status.PENDING:
        return ignored("attempt_closed")
    if attempt.is_expired(now):
        _expire(attempt, now)
        return ignored("expired")
    sent_at = message.timestamp
    if (
        not (attempt.created_at - CLOCK_SKEW).timestamp()
        <= sent_at
        <= attempt.expires_at.timestamp()
    ):
        # Written outside the code's lifetime (a clock far off): it cannot confirm, and
        # the page is told the code is over instead of waiting for its end.
        _expire(attempt, now)
        return ignored("stale_message")
    if message.forwarded:
        # A forwarded login text is somebody else's code (relay phishing, T3): it never
        # logs in or links, and the page is told why instead of waiting for the end.
        return _reject(attempt, [Status.PENDING], Reason.FORWARDED, senders, now)
    if attempt.purpose == Purpose.LINK:
        return _link(attempt, senders, request, message, now)

    resolution = identities.resolve_sender(
        senders, attempt=attempt, request=request, message=message
    )
    user = resolution.user
    if user is None:
        return _reject(attempt, [Status.PENDING], Reason(resolution.reason), senders, now)
    from .backends import WhatsAppLoginBackend

    if not WhatsAppLoginBackend().user_can_authenticate(user):
        return _reject(attempt, [Status.PENDING], Reason.INACTIVE_USER, senders, now)

    # A relayed code (cross-device phishing: the attacker's page shows it to the victim)
    # is sent from the victim's WhatsApp for the attacker's browser. Unless that browser
    # is one this user already confirmed, ask the user, with its context, before it counts.
    ask = devices.needs_confirmation(attempt, user)
    decided: dict[str, Any] = (
        {"status": Status.AWAITING_CONFIRMATION, "asked_at": now}
        if ask
        else {"status": Status.CONFIRMED, "reason": Reason.CONFIRMED, "confirmed_at": now}
    )
    confirmed = _transition(
        attempt,
        [Status.PENDING],
        now=now,
        user=user,
        sender_hash=sender_hash(senders.key),
        sender_masked=senders.masked,
        # Learned as the user's identity when the login succeeds (consume), never before.
        sender_lid=senders.lid or "",
        sender_bsuid=senders.bsuid or "",
        **decided,
    )
    if not confirmed:
        # Lost a race: another delivery changed the attempt first. Judge again on fresh data.
        attempt.refresh_from_db()
        if attempt.status in (
            Status.CONFIRMED,
            Status.AWAITING_CONFIRMATION,
        ) and not _same_sender(attempt, senders):
            return _reject(
                attempt,
                [Status.CONFIRMED, Status.AWAITING_CONFIRMATION],
                Reason.CONFLICTING_SENDER,
                senders,
                now,
            )
        return ignored("attempt_closed")
    identities.mark_seen(resolution)
    if ask:
        logger.info("Login attempt %s awaits YES from %s", attempt.pk, senders.masked)
        return Outcome(AWAITING, "", attempt)
    logger.info("Login attempt %s confirmed by %s", attempt.pk, senders.masked)
    _send_confirmed(attempt, user, senders.phone, senders.lid, message.message_id)
    return Outcome("confirmed", "", attempt)


def _send_confirmed(
    attempt: LoginAttempt, user: Any, phone: str | None, lid: str | None, message_id: str | None
) -> None:
    transaction.on_commit(
        lambda: signals.attempt_confirmed.send(
            sender=LoginAttempt,
            attempt=attempt,
            user=user,
            phone=phone,
            lid=lid,
            message_id=message_id,
        )
    )


def _expire(attempt: LoginAttempt, now: Any) -> None:
    _transition(
        attempt,
        [Status.PENDING, Status.AWAITING_CONFIRMATION],
        now=now,
        require_live=False,
        status=Status.EXPIRED,
        reason=Reason.EXPIRED,
        closed_at=now,
    )


def _confirmed_again(
    attempt: LoginAttempt,
    message: Message,
    senders: SenderIds,
    request: HttpRequest | None,
    now: Any,
) -> Outcome:
    """A message for an attempt that is already confirmed: the same person again is
    harmless; anybody else means the code leaked (login CSRF or a relay) and nobody gets
    this login."""
    if _same_sender(attempt, senders):
        return Outcome("duplicate", "already_confirmed", attempt)
    resolution = identities.resolve_sender(
        senders, attempt=attempt, request=request, message=message
    )
    if resolution.user is not None and resolution.user.pk == attempt.user_id:
        return Outcome("duplicate", "already_confirmed", attempt)
    return _reject(
        attempt,
        [Status.CONFIRMED, Status.AWAITING_CONFIRMATION],
        Reason.CONFLICTING_SENDER,
        senders,
        now,
    )


# --- the YES/NO answer to the confirmation question (WHATSAPP_LOGIN_CONFIRM) ------------

YES = "yes"
NO = "no"
#: Longer texts are not answers (no normalisation runs on them).
MAX_ANSWER_CHARS = 32


def answer_words() -> dict[str, str]:
    """The normalised words that answer the question: ``YES`` and ``NO`` in English and
    in ``WHATSAPP_LOGIN_REPLY_LANGUAGE`` (the language the question was asked in)."""
    with translation.override(app_settings.REPLY_LANGUAGE):
        # Translators: the word a user replies in WhatsApp to confirm a login. One word.
        yes = _("YES")
        # Translators: the word a user replies in WhatsApp to refuse a login or sign it out.
        no = _("NO")
    words = {"YES": YES, "NO": NO}
    words.setdefault(normalize_text(yes), YES)
    words.setdefault(normalize_text(no), NO)
    return words


#: The ids of the reply buttons the question is sent with (gateways that have buttons).
BUTTON_YES = "whatsapp_login:yes"
BUTTON_NO = "whatsapp_login:no"
_BUTTONS = {BUTTON_YES: YES, BUTTON_NO: NO}


def match_answer(text: str, *, button_id: str = "") -> str | None:
    """:data:`YES` or :data:`NO` if ``text`` is just that word (case, blanks and a final
    ``.`` or ``!`` do not matter), else None. A pressed button answers by its id alone
    (its title is whatever language the question was sent in); other buttons are no
    answer."""
    if button_id:
        return _BUTTONS.get(button_id)
    if len(text) > MAX_ANSWER_CHARS:
        return None
    return answer_words().get(normalize_text(text).rstrip(".!").strip())


def _sender_filter(senders: SenderIds) -> Q:
    """Attempts this sender settled: by the keyed hash of any of its ids, or by its LID or
    business-scoped user id."""
    match = Q(sender_hash__in=[sender_hash(ident.value) for ident in senders.ids])
    if senders.lids:
        match |= Q(sender_lid__in=senders.lids)
    if senders.bsuids:
        match |= Q(sender_bsuid__in=senders.bsuids)
    return match


def handle_answer(message: Message, senders: SenderIds, answer: str) -> Outcome:
    """A ``YES`` or ``NO`` from a personal chat: the answer to the question of the login
    awaiting this sender (the quoted question's, else the only one waiting).

    ``YES`` confirms it (reason ``approved``); ``NO`` rejects it (``declined``; with
    several waiting and none quoted, all of them). Answers from any other chat, written
    before the question or after the attempt's lifetime, or for a login that is over
    change nothing. With nothing awaiting, the outcome is ``ignored`` /
    ``nothing_awaiting``, and a ``NO`` then signs the sender's last login out
    (replies.py).
    """
    if senders.unreadable or not senders.ids or senders.contradictory:
        return ignored("no_login_text")
    now = timezone.now()
    written = message.timestamp
    waiting = [
        attempt
        for attempt in LoginAttempt.objects.filter(
            _sender_filter(senders),
            status=Status.AWAITING_CONFIRMATION,
            purpose=Purpose.LOGIN,
            expires_at__gt=now,
        ).order_by("-asked_at")[:10]
        if attempt.asked_at is not None
        and (attempt.asked_at - CLOCK_SKEW).timestamp() <= written <= attempt.expires_at.timestamp()
    ]
    if message.quoted_id:
        quoted = [a for a in waiting if a.question_message_id == message.quoted_id]
        if quoted:
            waiting = quoted
        elif LoginAttempt.objects.filter(
            _sender_filter(senders), question_message_id=message.quoted_id
        ).exists():
            # The answer quotes the question of a login that is already over (or one this
            # answer is too late for): it changes nothing.
            return ignored("attempt_closed")
    if not waiting:
        return ignored("nothing_awaiting")
    if answer == YES and len(waiting) > 1:
        logger.info("YES from %s matches %d logins: none confirmed", senders.masked, len(waiting))
        return ignored("ambiguous_answer")
    with transaction.atomic():
        if not first_delivery(message):
            return Outcome("duplicate")
        if answer == YES:
            attempt = waiting[0]
            if not _transition(
                attempt,
                [Status.AWAITING_CONFIRMATION],
                now=now,
                status=Status.CONFIRMED,
                reason=Reason.APPROVED,
                confirmed_at=now,
            ):
                return ignored("attempt_closed")
            logger.info("Login attempt %s confirmed with YES by %s", attempt.pk, senders.masked)
            user = attempt.user
            _send_confirmed(attempt, user, senders.phone, senders.lid, message.message_id)
            return Outcome("confirmed", Reason.APPROVED.value, attempt)
        declined = [
            attempt
            for attempt in waiting
            if _transition(
                attempt,
                [Status.AWAITING_CONFIRMATION],
                now=now,
                require_live=False,
                status=Status.REJECTED,
                reason=Reason.DECLINED,
                closed_at=now,
            )
        ]
        for attempt in declined:
            _log_rejected(attempt, Reason.DECLINED, senders.phone)
    if not declined:
        return ignored("attempt_closed")
    return Outcome("rejected", Reason.DECLINED.value, declined[0])


def record_question(attempt: LoginAttempt, message_id: str) -> None:
    """Keep the ``idMessage`` of the question sent for ``attempt`` (a quoted answer names it)."""
    LoginAttempt.objects.filter(pk=attempt.pk).update(question_message_id=message_id[:128])
    attempt.question_message_id = message_id[:128]


def question_unsent(attempt: LoginAttempt) -> bool:
    """The question for ``attempt`` could not be sent (gateway down, quota, no chat to
    write to): awaiting_confirmation -> rejected (``confirmation_unsent``), so the page
    says so instead of waiting for an answer that cannot come."""
    now = timezone.now()
    if not _transition(
        attempt,
        [Status.AWAITING_CONFIRMATION],
        now=now,
        require_live=False,
        status=Status.REJECTED,
        reason=Reason.CONFIRMATION_UNSENT,
        closed_at=now,
    ):
        return False
    _log_rejected(attempt, Reason.CONFIRMATION_UNSENT, None)
    return True


class _LostRace(Exception):
    pass


def _link(
    attempt: LoginAttempt,
    senders: SenderIds,
    request: HttpRequest | None,
    message: Message,
    now: Any,
) -> Outcome:
    """A link attempt's code arrived: record every id of the sender for ``attempt.user``.

    All or nothing: an id that names another user (an identity, or the resolver for the
    phone) rejects the attempt with ``conflicting_ids`` and links nothing. Success is one
    conditional transition pending -> consumed (reason ``linked``) in the same savepoint
    as the new identities.
    """
    from .backends import WhatsAppLoginBackend

    user = (
        get_user_model()._default_manager.filter(pk=attempt.user_id).first()
        if attempt.user_id is not None
        else None
    )
    if user is None or not WhatsAppLoginBackend().user_can_authenticate(user):
        return _reject(attempt, [Status.PENDING], Reason.INACTIVE_USER, senders, now)
    if senders.unreadable or not senders.ids:
        return _reject(attempt, [Status.PENDING], Reason.UNREADABLE_SENDER, senders, now)
    if senders.contradictory or any(
        owner != user.pk for owner in identities.find_identities(senders.ids).values()
    ):
        return _reject(attempt, [Status.PENDING], Reason.CONFLICTING_IDS, senders, now)
    if senders.phone is not None:
        found, _failure = resolve(senders.phone, attempt=attempt, request=request, message=message)
        if found is not None and found.pk != user.pk:
            return _reject(attempt, [Status.PENDING], Reason.CONFLICTING_IDS, senders, now)
    try:
        with transaction.atomic():
            for ident in senders.ids:
                identities.link(user, ident, source=IdentitySource.ENROLLMENT)
            if not _transition(
                attempt,
                [Status.PENDING],
                now=now,
                status=Status.CONSUMED,
                reason=Reason.LINKED,
                sender_hash=sender_hash(senders.key),
                sender_masked=senders.masked,
                confirmed_at=now,
                closed_at=now,
            ):
                raise _LostRace
    except identities.IdentityConflict:
        # Another user got one of these ids between the check and the insert.
        return _reject(attempt, [Status.PENDING], Reason.CONFLICTING_IDS, senders, now)
    except _LostRace:
        return ignored("attempt_closed")
    logger.info("Link attempt %s linked %s to user %s", attempt.pk, senders.masked, user.pk)
    return Outcome("linked", "", attempt)


def _reject(
    attempt: LoginAttempt,
    from_statuses: list[Status],
    reason: Reason,
    senders: SenderIds | None,
    now: Any,
) -> Outcome:
    changes: dict[str, Any] = {"status": Status.REJECTED, "reason": reason, "closed_at": now}
    if senders is not None and senders.ids and not attempt.sender_masked:
        changes["sender_masked"] = senders.masked
    if reason == Reason.LID_SENDER and senders is not None and senders.lid:
        # What the phone fallback of the login page checks the typed number against.
        changes["sender_lid"] = senders.lid
    if not _transition(attempt, from_statuses, now=now, **changes):
        return ignored("attempt_closed")
    _log_rejected(attempt, reason, senders.phone if senders is not None else None)
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
    transaction.on_commit(lambda: live.publish(attempt))  # the cached state (issue 11)
    return True
