"""Browser endpoints: the login page and its JSON API (start, status, complete).

Every endpoint finds the attempt through the browser session that created it; there is
no attempt id in any URL, so knowing a code (it is in the QR, the chat and Green API's
logs) never lets anyone poll or complete someone else's login.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from . import attempts, completion, headers, poll, ratelimit, state, webhooks
from .conf import app_settings
from .gateways import Ignored, get_gateway
from .models import LoginAttempt, Purpose, Reason, Status
from .phone import InvalidPhoneNumber, normalize_phone, phone_digits
from .qr import qr_svg
from .replies import answer_buttons

logger = logging.getLogger("django_whatsapp_login")

NEXT_KEY = "_whatsapp_login_next"
FLASH_KEY = "_whatsapp_login_flash"


def status_message(status: str, reason: str = "", purpose: str = Purpose.LOGIN) -> str:
    """The sentence the page shows for a status (and a rejection reason)."""
    if purpose == Purpose.LINK and status == Status.REJECTED:
        return link_rejected_message(reason)
    if status == Status.PENDING:
        return _("Waiting for your message in WhatsApp…")
    if status == Status.AWAITING_CONFIRMATION:
        return _("Check WhatsApp and answer YES to confirm this login.")
    if status == Status.CONFIRMED:
        return _("Confirmed. Logging you in…")
    if status == Status.EXPIRED:
        return _("This code has expired. Get a new code to try again.")
    reasons: dict[str, str] = {
        Reason.UNKNOWN_NUMBER: _("This number is not registered."),
        Reason.INACTIVE_USER: _("This account cannot log in."),
        Reason.CONFLICTING_SENDER: _(
            "The code was sent from two different numbers, so it was cancelled. "
            "Get a new code and send it only from your own phone."
        ),
        Reason.LID_SENDER: _(
            "WhatsApp did not share your phone number, so we could not identify you. "
            "Enter your phone number to confirm it, or log in another way and link "
            "WhatsApp to your account."
        ),
        Reason.CONFLICTING_IDS: _(
            "This WhatsApp account and its phone number belong to different users here, so "
            "nobody was logged in. Please log in another way or contact support."
        ),
        Reason.UNREADABLE_SENDER: _(
            "WhatsApp did not tell us clearly who sent the message. Get a new code and try again."
        ),
        Reason.SEVERAL_USERS: _(
            "This number belongs to several accounts, so we cannot tell which one is yours."
        ),
        Reason.RATE_LIMITED: _("Too many login messages from this number. Try again later."),
        Reason.DECLINED: _("You answered NO in WhatsApp, so nobody was logged in."),
        Reason.CONFIRMATION_UNSENT: _(
            "We could not send the confirmation question to your WhatsApp, so this login "
            "was cancelled. Get a new code to try again in a moment."
        ),
        Reason.FORWARDED: _(
            "This code was forwarded, so it cannot log anyone in. If you want to log in, "
            "get a new code here and send it yourself from your own WhatsApp; never forward "
            "a login code you were sent."
        ),
    }
    return reasons.get(reason, _("This login was refused. Get a new code to try again."))


def link_rejected_message(reason: str) -> str:
    """What the link page (``whatsapp_login:link``) says when its code was refused."""
    if reason == Reason.CONFLICTING_IDS:
        return _(
            "This WhatsApp account is already linked to another user here, so nothing was "
            "linked. Unlink it there first, or contact support."
        )
    if reason == Reason.UNREADABLE_SENDER:
        return _(
            "WhatsApp did not tell us clearly who sent the message, so nothing was linked. "
            "Get a new code and try again."
        )
    if reason == Reason.FORWARDED:
        return _(
            "This code was forwarded, so nothing was linked. Get a new code and send it "
            "yourself from your own WhatsApp."
        )
    return _("Nothing was linked. Get a new code to try again.")


def _wants_html(request: HttpRequest) -> bool:
    """A plain form post from a browser without JavaScript; JSON is the default."""
    return "text/html" in request.headers.get("Accept", "")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def _json(data: dict[str, Any], status: int = 200) -> HttpResponse:
    return _no_store(JsonResponse(data, status=status))


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Unavailable(Exception):
    """The app is misconfigured (no usable WHATSAPP_LOGIN_BUSINESS_PHONE): say so, no 500."""


def unavailable_message() -> str:
    return _("Login with WhatsApp is not available right now. Please use another way to log in.")


def _business_phone() -> str:
    try:
        return normalize_phone(app_settings.BUSINESS_PHONE)
    except InvalidPhoneNumber:
        logger.error(
            "WHATSAPP_LOGIN_BUSINESS_PHONE is not an international phone number: WhatsApp "
            "login is unavailable (system check whatsapp_login.E001)."
        )
        raise Unavailable from None


def _too_many(retry_after: int) -> HttpResponse:
    return _no_store(_too_many_response(retry_after))


def _too_many_response(retry_after: int) -> HttpResponse:
    response = JsonResponse(
        {
            "error": "rate_limited",
            "retry_after": retry_after,
            "status_message": _("Too many requests. Try again in a moment."),
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


CLIENT_KEY = "_whatsapp_login_client"


def _session_key(request: HttpRequest, *, create: bool = True) -> str | None:
    """What the ``session`` rate-limit key counts: a random id kept in the session data.

    Not the session key itself: that is rotated each time an attempt is created (so a
    planted session cookie stops working), and a limit keyed on it would restart then.
    """
    value = request.session.get(CLIENT_KEY)
    if isinstance(value, str) and value:
        return value
    if not create:
        return None
    value = secrets.token_urlsafe(16)
    request.session[CLIENT_KEY] = value
    return value


def _start_or_reuse(
    request: HttpRequest, *, purpose: str = Purpose.LOGIN
) -> tuple[LoginAttempt, str]:
    """This session's live attempt, or a new one within RATE_LIMIT_START.

    ``purpose="link"`` (the link page) makes a link attempt for the logged-in user; it is
    counted in its own ``link_start`` buckets, with the same limits.
    """

    def check_start_limit() -> None:
        retry_after = ratelimit.hit(
            "start" if purpose == Purpose.LOGIN else "link_start",
            app_settings.RATE_LIMIT_START,
            {"ip": ratelimit.client_ip(request), "session": _session_key(request)},
        )
        if retry_after:
            raise RateLimited(retry_after)

    if purpose == Purpose.LINK:
        user = request.user
        if not isinstance(user, AbstractBaseUser):
            raise PermissionDenied("A link attempt needs a logged-in user.")
        return attempts.start_attempt(
            request, before_create=check_start_limit, purpose=purpose, user=user
        )
    return attempts.start_attempt(request, before_create=check_start_limit)


def _binding_cookie(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send the binding cookie of an attempt this request created (see attempts.py)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        return attempts.attach_binding_cookie(request, response)  # type: ignore[no-any-return]

    return wrapper


def _check_complete_limit(request: HttpRequest) -> int | None:
    attempt_id = attempts.session_attempt_id(request)
    return ratelimit.hit(
        "complete",
        app_settings.RATE_LIMIT_COMPLETE,
        {
            "attempt": str(attempt_id) if attempt_id else None,
            "session": _session_key(request, create=False),
            "ip": ratelimit.client_ip(request),
        },
    )


def _no_attempt() -> HttpResponse:
    # One body for "none", "someone else's" and "already used" (no oracle).
    return _json({"error": "no_attempt"}, status=404)


def _safe_next(request: HttpRequest, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _redirect_url(request: HttpRequest) -> str:
    return _safe_next(request, request.session.get(NEXT_KEY)) or resolve_url(
        app_settings.REDIRECT_URL
    )


PAGE_KEY = "_whatsapp_login_page"


def _login_url(request: HttpRequest) -> str:
    """Where a form post without JavaScript goes back to: the page that showed the code.

    Projects may mount the login page at their own path (``/login``), so the path seen
    when the page was rendered is remembered rather than reversed.
    """
    page = request.session.get(PAGE_KEY)
    if isinstance(page, str) and _safe_next(request, page):
        return page
    return reverse("whatsapp_login:login")


def attempt_payload(attempt: LoginAttempt, code: str) -> dict[str, Any]:
    link = attempts.wa_link(code)
    status = attempt.public_status
    data: dict[str, Any] = {
        "code": code,
        "message": attempts.login_message(code),
        "link": link,
        "qr_svg": str(qr_svg(link, title=_("QR code: scan it to open WhatsApp"))),
        "expires_at": attempt.expires_at.isoformat(),
        "expires_in": max(0, int(attempt.expires_at.timestamp() - time.time())),
        "status": status,
        "status_message": status_message(status, attempt.reason, attempt.purpose),
    }
    return data


@_binding_cookie
@require_GET
@never_cache
@xframe_options_deny
@ensure_csrf_cookie
def login_page(request: HttpRequest) -> HttpResponse:
    """The login page: QR code, "Open WhatsApp" button, the message as text, live status."""
    try:
        context = widget_context(request)
    except Unavailable:
        response = render(request, "whatsapp_login/unavailable.html", status=503)
        return _no_store(response)
    except RateLimited as limited:
        response = render(
            request,
            "whatsapp_login/rate_limited.html",
            {"retry_after": limited.retry_after},
            status=429,
        )
        response["Retry-After"] = str(limited.retry_after)
        return _no_store(response)
    response = render(request, "whatsapp_login/login.html", context)
    return _no_store(response)


def widget_context(
    request: HttpRequest, next_url: str | None = None, *, purpose: str = Purpose.LOGIN
) -> dict[str, Any]:
    """Everything ``whatsapp_login/widget.html`` needs, for this request's live attempt.

    Shared by the login page, the ``{% whatsapp_login_widget %}`` tag and the link page
    (``purpose="link"``). Raises :class:`RateLimited` when a new attempt would exceed
    ``WHATSAPP_LOGIN_RATE_LIMIT_START``.
    """
    if purpose == Purpose.LOGIN:
        next_url = _safe_next(request, next_url or request.GET.get("next"))
        if next_url:
            request.session[NEXT_KEY] = next_url
    flash = request.session.pop(FLASH_KEY, "")
    # Where the no-JavaScript forms come back to: the page that shows the widget.
    request.session[PAGE_KEY] = request.path
    business_phone = _business_phone()
    attempt, code = _start_or_reuse(request, purpose=purpose)
    context = attempt_payload(attempt, code)
    context.update(
        {
            "flash": flash,
            "business_phone": business_phone,
            "sandbox": _sandbox_active(),
            "sandbox_question": sandbox_question(attempt),
            "poll_interval": app_settings.POLL_INTERVAL,
            "widget_id": "whatsapp-login-" + secrets.token_hex(4),
            "csp_nonce": getattr(request, "csp_nonce", ""),
            "link_mode": purpose == Purpose.LINK,
            # The push channel (events.py), when WHATSAPP_LOGIN_LIVE is on.
            "events_url": reverse("whatsapp_login:events") if app_settings.LIVE else "",
        }
    )
    return context


@_binding_cookie
@require_POST
@never_cache
def start(request: HttpRequest) -> HttpResponse:
    """Start an attempt for this session, or return its live one (JSON)."""
    try:
        _business_phone()
        attempt, code = _start_or_reuse(request)
    except Unavailable:
        return _json({"error": "unavailable", "status_message": unavailable_message()}, status=503)
    except RateLimited as limited:
        return _too_many(limited.retry_after)
    if _wants_html(request):
        return HttpResponseRedirect(_login_url(request), status=303)
    return _json(attempt_payload(attempt, code))


_poll_headers = headers.never_cache_same_origin


@_binding_cookie
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """The status of this session's attempt. Read-only: it never changes anything.

    The hottest path (every waiting page, every POLL_INTERVAL): with Redis its rate limit
    and the attempt's cached state are one round trip (``poll.limited_session_state``).
    """
    retry_after, attempt, entry = poll.limited_session_state(
        request, app_settings.RATE_LIMIT_STATUS, _session_key(request, create=False)
    )
    if retry_after:
        return _poll_headers(_too_many_response(retry_after))
    if entry is not None:
        body = _cached_body(request, entry)
        if body is not None:
            return _poll_headers(HttpResponse(body, content_type="application/json"))
        attempt = state.from_entry(attempts.session_attempt_id(request) or 0, entry)
    code, data = status_answer(request, attempt)
    return _poll_headers(JsonResponse(data, status=code))


#: The status poll's JSON bodies for cached states, by (public status, reason, purpose,
#: expiry, language): the same bytes for every poll of an attempt until it changes, so
#: neither the message (gettext) nor the JSON is made again. Bounded: cleared when full.
_BODIES: dict[tuple[Any, ...], bytes] = {}
_BODIES_MAX = 4096


def _cached_body(request: HttpRequest, entry: tuple[Any, ...]) -> bytes | None:
    """The 200 body of ``status_answer`` for a cached state (``state.entry``'s tuple), or
    None when that answer depends on more than the state (a rejection: the fallback link
    of this browser; the sandbox's question: the row; a used attempt: 404)."""
    public = state.public_status(entry, time.time())
    if public == Status.REJECTED or entry[1] == Status.CONSUMED:
        return None
    if public == Status.AWAITING_CONFIRMATION and _sandbox_active():
        return None
    key = (public, entry[2], entry[3], entry[4], get_language())
    body = _BODIES.get(key)
    if body is None:
        attempt = state.from_entry(0, entry)
        code, data = status_answer(request, attempt)
        body = json.dumps(data, cls=DjangoJSONEncoder).encode()
        if code != 200 or data.get("status") != public:
            return None  # the state changed under us (its expiry came meanwhile)
        if len(_BODIES) >= _BODIES_MAX:
            _BODIES.clear()
        _BODIES[key] = body
    return body


def status_answer(request: HttpRequest, attempt: LoginAttempt | None) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON of the ``status`` endpoint for ``attempt``; the push channel
    (``events.py``) sends the same."""
    if (
        attempt is not None
        and attempt.status == Status.CONSUMED
        and attempt.reason == Reason.LINKED
    ):
        return 200, {"status": "linked", "status_message": linked_message()}
    if attempt is None or attempt.status == Status.CONSUMED:
        return 404, {"error": "no_attempt"}
    public = attempt.public_status
    data: dict[str, Any] = {
        "status": public,
        "expires_at": attempt.expires_at.isoformat(),
        "status_message": status_message(public, attempt.reason, attempt.purpose),
    }
    if public == Status.REJECTED:
        data["reason"] = attempt.reason
        data.update(_fallback_fields(request))
    question = sandbox_question(attempt)
    if question:
        data["sandbox_question"] = question
    return 200, data


def _fallback_fields(request: HttpRequest) -> dict[str, Any]:
    """For an attempt rejected ``lid_sender``: where the page's phone fallback is."""
    from .fallback import fallback_attempt

    if fallback_attempt(request) is None:
        return {}
    return {"fallback_url": reverse("whatsapp_login:lid_fallback")}


def linked_message() -> str:
    return _("WhatsApp is now linked to your account.")


@_binding_cookie
@require_POST
@never_cache
def complete(request: HttpRequest) -> HttpResponse:
    """Log this session in once its attempt is confirmed."""
    html = _wants_html(request)
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return _json({"error": "cross_site"}, status=403)
    retry_after = _check_complete_limit(request)
    if retry_after:
        return _too_many(retry_after)
    attempt = attempts.get_session_attempt(request, with_user=True)  # one query for both
    if attempt is None or attempt.status == Status.CONSUMED:
        return HttpResponseRedirect(_login_url(request), status=303) if html else _no_attempt()
    user = None
    if attempt.public_status == Status.CONFIRMED:
        user = authenticate(request, whatsapp_login_attempt=attempt)
    if user is None:
        attempt.refresh_from_db()
        public = attempt.public_status
        if html:
            if _fallback_fields(request):  # sent from an unknown LID: offer the phone form
                return HttpResponseRedirect(reverse("whatsapp_login:lid_fallback"), status=303)
            request.session[FLASH_KEY] = status_message(public, attempt.reason)
            return HttpResponseRedirect(_login_url(request), status=303)
        return _json(
            {"status": public, "status_message": status_message(public, attempt.reason)}, 409
        )
    redirect_to = _redirect_url(request)
    # WHATSAPP_LOGIN_COMPLETE_LOGIN: Django's login() by default; a URL or response from a
    # pipeline such as allauth's (its MFA form) replaces the redirect.
    answer = completion.complete_login(request, user, attempt=attempt, redirect_url=redirect_to)
    attempts.forget_session_attempt(request)
    request.session.pop(NEXT_KEY, None)
    # Remember the session this login created, so a "NO" in WhatsApp can end exactly it.
    attempts.remember_session(attempt, request)
    if isinstance(answer, HttpResponse):
        return answer
    redirect_to = answer or redirect_to
    if html:
        return HttpResponseRedirect(redirect_to, status=303)
    return _json({"redirect": redirect_to})


SANDBOX_PHONE_KEY = "_whatsapp_login_sandbox_phone"


def _sandbox_active() -> bool:
    return app_settings.SANDBOX and settings.DEBUG


def sandbox_question(attempt: LoginAttempt) -> str:
    """The YES/NO question the sandbox shows instead of sending it ("" if none waits)."""
    if not _sandbox_active() or attempt.public_status != Status.AWAITING_CONFIRMATION:
        return ""
    from .replies import question_text

    # A cached state (poll.py) carries no login context: the row has it.
    row = LoginAttempt.objects.filter(pk=attempt.pk).first()
    return question_text(row) if row is not None else ""


@_binding_cookie
@require_POST
@never_cache
def sandbox(request: HttpRequest) -> HttpResponse:
    """Development only: deliver a webhook-shaped message for this session's attempt.

    ``phone``: the login message, as if sent from that number. ``answer`` (``yes`` or
    ``no``): the answer to the confirmation question, from the same number.
    """
    if not _sandbox_active():
        return _json({"error": "sandbox_disabled"}, status=404)
    html = _wants_html(request)
    attempt = attempts.get_session_attempt(request)
    if attempt is None:
        return HttpResponseRedirect(_login_url(request), status=303) if html else _no_attempt()
    answer = request.POST.get("answer", "")
    try:
        if answer in ("yes", "no"):
            sender = phone_digits(request.session.get(SANDBOX_PHONE_KEY, ""))
        else:
            sender = phone_digits(request.POST.get("phone", ""))
        phone_digits(app_settings.BUSINESS_PHONE)
    except InvalidPhoneNumber:
        message = _("Enter the phone number in international format, e.g. +996 555 000 000.")
        if html:
            request.session[FLASH_KEY] = message
            return HttpResponseRedirect(_login_url(request), status=303)
        return _json({"error": "invalid_phone", "message": message}, status=400)
    gateway = get_gateway()
    try:
        if answer in ("yes", "no"):
            # The question's buttons where the gateway has them (Cloud API), else the word.
            button_id = attempts.BUTTON_YES if answer == attempts.YES else attempts.BUTTON_NO
            word = dict(answer_buttons())[button_id]
            messages = gateway.sandbox_messages(
                "+" + sender, word, quoted_id=attempt.question_message_id, button_id=button_id
            )
        else:
            request.session[SANDBOX_PHONE_KEY] = "+" + sender
            code = attempts.session_code(request)
            messages = gateway.sandbox_messages("+" + sender, attempts.login_message(code))
    except Ignored as ignored:
        outcome = attempts.ignored(ignored.reason)
    else:
        # The webhook's own handling, message by message (one here).
        outcomes = [webhooks.handle(message, request=None) for message in messages]
        outcome = outcomes[-1] if outcomes else attempts.ignored("no_messages")
    if html:
        return HttpResponseRedirect(_login_url(request), status=303)
    data: dict[str, Any] = {"status": outcome.action, "reason": outcome.reason}
    if outcome.attempt is not None:
        outcome.attempt.refresh_from_db()
        question = sandbox_question(outcome.attempt)
        if question:
            data["sandbox_question"] = question
    return _json(data)
