"""The login page's phone fallback for a code sent from an unknown LID (issue 9).

When WhatsApp hides the sender's number, the attempt is rejected with ``lid_sender`` and
keeps the LID (``LoginAttempt.sender_lid``). The page then offers "enter your phone
number": one Green API ``checkWhatsapp`` call asks for that number's LID, and the attempt
is confirmed (rejected -> confirmed, one conditional UPDATE, live attempts only) only if

- the LID Green API returns equals the LID that sent the code,
- the resolver finds exactly one user for the number, who may log in, and
- no stored identity of the number or the LID belongs to somebody else.

Every failure gives one neutral answer, so the form never tells whether a number has an
account or uses WhatsApp. Green API being unavailable (not configured, timeout, 429, the
466 quota) is a separate "try again later" (503): nothing is written. The LID is stored as
the user's identity (source ``lookup``) only once the login completes (``attempts.consume``).
Tries are limited by ``WHATSAPP_LOGIN_RATE_LIMIT_LID_FALLBACK``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import attempts, identities, ratelimit
from .conf import app_settings
from .exceptions import InvalidPhoneNumber, WhatsAppLoginImproperlyConfigured
from .gateways.greenapi.client import GreenAPIClient, GreenAPIError
from .models import LoginAttempt, Purpose, Reason, Status
from .phone import mask_phone, normalize_phone
from .replies import schedule_question
from .resolvers import resolve
from .senders import LID, PHONE, WhatsAppId

logger = logging.getLogger("django_whatsapp_login")

MAX_PHONE_CHARS = 32


def neutral_message() -> str:
    return _(
        "We could not confirm this number for the WhatsApp account that sent the code. "
        "Check the number, or get a new code and log in another way."
    )


def later_message() -> str:
    return _("We cannot check phone numbers right now. Please try again later.")


def fallback_attempt(request: HttpRequest) -> LoginAttempt | None:
    """This session's login attempt if the fallback may run for it: rejected ``lid_sender``
    with the LID kept, and not expired."""
    attempt = attempts.get_session_attempt(request)
    if (
        attempt is None
        or attempt.purpose != Purpose.LOGIN
        or attempt.status != Status.REJECTED
        or attempt.reason != Reason.LID_SENDER
        or not attempt.sender_lid
        or attempt.expires_at <= timezone.now()
    ):
        return None
    return attempt


def _answer(request: HttpRequest, html: bool, data: dict[str, Any], status: int) -> HttpResponse:
    if html:
        if status == 200 and data.get("status") in ("confirmed", "awaiting_confirmation"):
            # The login page shows the confirmed attempt and its "Continue" button.
            return HttpResponseRedirect(reverse("whatsapp_login:login"), status=303)
        response = render(
            request,
            "whatsapp_login/lid_fallback.html",
            {"message": data.get("status_message", ""), "available": status != 404},
            status=status,
        )
    else:
        response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def _wants_html(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "")


@require_http_methods(["GET", "POST"])
@never_cache
def lid_fallback(request: HttpRequest) -> HttpResponse:
    """GET: the "enter your phone number" form. POST (``phone``): check it, see module doc."""
    html = request.method == "GET" or _wants_html(request)
    attempt = fallback_attempt(request)
    if attempt is None:
        return _answer(request, html, {"error": "no_attempt"}, 404)
    if request.method == "GET":
        return _answer(request, True, {"status_message": ""}, 200)
    if not request.session.session_key:
        request.session.save()
    retry_after = ratelimit.hit(
        "lid_fallback",
        app_settings.RATE_LIMIT_LID_FALLBACK,
        {
            "attempt": str(attempt.pk),
            "session": request.session.session_key,
            "ip": ratelimit.client_ip(request),
        },
    )
    if retry_after:
        data = {
            "error": "rate_limited",
            "retry_after": retry_after,
            "status_message": _("Too many tries. Get a new code or try again later."),
        }
        response = _answer(request, html, data, 429)
        response["Retry-After"] = str(retry_after)
        return response
    neutral = {"error": "not_confirmed", "status_message": neutral_message()}
    raw = request.POST.get("phone", "")
    try:
        if len(raw) > MAX_PHONE_CHARS:
            raise InvalidPhoneNumber(raw[:MAX_PHONE_CHARS])
        phone = normalize_phone(raw)
    except InvalidPhoneNumber:
        return _answer(request, html, neutral, 400)
    try:
        with GreenAPIClient.from_settings() as client:
            check = client.check_whatsapp(phone, max_retries=0)
    except (GreenAPIError, WhatsAppLoginImproperlyConfigured) as err:
        logger.warning("LID fallback of attempt %s: Green API unavailable (%s)", attempt.pk, err)
        data = {"error": "lookup_unavailable", "status_message": later_message()}
        return _answer(request, html, data, 503)
    user = _matching_user(attempt, phone, check.lid, request)
    if user is None or not attempts.confirm_by_lookup(attempt, user, phone):
        logger.info("LID fallback of attempt %s: %s not confirmed", attempt.pk, mask_phone(phone))
        return _answer(request, html, neutral, 400)
    if attempt.status == Status.AWAITING_CONFIRMATION:
        # WHATSAPP_LOGIN_CONFIRM: typing a number proves nothing about who typed it. Ask the
        # WhatsApp account that sent the code (its LID chat) to answer YES.
        schedule_question(attempt, attempt.sender_lid, f"lookup-{attempt.pk}")
        data = {
            "status": Status.AWAITING_CONFIRMATION.value,
            "status_message": _("Check WhatsApp and answer YES to confirm this login."),
        }
        return _answer(request, html, data, 200)
    data = {
        "status": "confirmed",
        "status_message": _("Confirmed. Logging you in…"),
    }
    return _answer(request, html, data, 200)


def _matching_user(attempt: LoginAttempt, phone: str, lid: str | None, request: HttpRequest) -> Any:
    """The one user ``phone`` names, if its LID is the one that sent the code and no
    identity of either id belongs to anybody else; else None."""
    if lid is None or lid != attempt.sender_lid:
        return None
    user, _failure = resolve(phone, attempt=attempt, request=request)
    if user is None:
        return None
    from .backends import WhatsAppLoginBackend

    if not WhatsAppLoginBackend().user_can_authenticate(user):
        return None
    owners = identities.find_identities([WhatsAppId(PHONE, phone), WhatsAppId(LID, lid)])
    if any(owner != user.pk for owner in owners.values()):
        return None
    return user
