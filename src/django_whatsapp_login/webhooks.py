"""The Green API webhook receiver: authenticate -> parse -> handle -> 200.

Green API re-sends every non-200 answer each minute for 24 hours, and while it does, the
instance's later notifications wait behind it. So: 401 only for a bad token, 405 for a
wrong method, and 200 for every authenticated delivery, including the ones we ignore.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import attempts, ratelimit
from .conf import app_settings
from .greenapi import MAX_BODY_BYTES, Ignored, IncomingText, loads, parse_incoming_text
from .phone import InvalidPhoneNumber, mask_phone, phone_digits

logger = logging.getLogger("django_whatsapp_login")

_SCHEMES = ("bearer ", "basic ")


def _split_credentials(value: str) -> tuple[str, bytes]:
    scheme, _, credentials = value.strip().partition(" ")
    return scheme.lower(), credentials.strip().encode("utf-8", "surrogateescape")


def _expected_credentials(token: str) -> tuple[str, bytes]:
    # A configured value may already carry its scheme ("Basic abc"): Green API then
    # sends it verbatim. A bare value is a bearer token.
    if token.strip().lower().startswith(_SCHEMES):
        return _split_credentials(token)
    return "bearer", token.strip().encode("utf-8", "surrogateescape")


def token_is_valid(header: str, tokens: list[str]) -> bool:
    """Constant-time check of an ``Authorization`` header against every configured token.

    Accepts ``Bearer <token>`` (scheme case-insensitive) and, for a configured value that
    already carries a scheme (``"Basic abc"``), the header equal to that value. Every token
    is compared even after a match, so timing does not tell which one matched.
    """
    if not header:
        return False
    scheme, supplied = _split_credentials(header)
    matched = False
    for token in tokens:
        expected_scheme, expected = _expected_credentials(token)
        same = hmac.compare_digest(supplied, expected)
        matched |= same and bool(expected) and scheme == expected_scheme
    return matched


def unauthorized() -> HttpResponse:
    response = JsonResponse({"error": "unauthorized"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="whatsapp_login"'
    return response


def _answer(status: str, reason: str = "") -> JsonResponse:
    body: dict[str, Any] = {"status": status}
    if reason:
        body["reason"] = reason
    return JsonResponse(body, status=200)


def check_instance(message: IncomingText) -> None:
    """Refuse deliveries meant for another instance or another business number."""
    expected_instance = app_settings.GREEN_API_ID_INSTANCE
    if expected_instance and message.id_instance != expected_instance:
        logger.warning("Webhook for another Green API instance ignored (webhook token reused?)")
        raise Ignored("wrong_instance")
    try:
        business = phone_digits(app_settings.BUSINESS_PHONE) + "@c.us"
    except InvalidPhoneNumber:
        return
    if message.wid != business:  # "" (instance not authorized) is not our number either
        logger.warning(
            "Webhook for WhatsApp number %s ignored: WHATSAPP_LOGIN_BUSINESS_PHONE is %s",
            mask_phone(message.wid),
            mask_phone(business),
        )
        raise Ignored("wrong_business_number")
    own = "+" + business.partition("@")[0]
    if message.sender == business or (message.senders and own in message.senders.phones):
        raise Ignored("own_message")


def handle_payload(data: Any, request: HttpRequest | None = None) -> attempts.Outcome:
    """Everything after authentication, shared by the webhook, the sandbox and pollers."""
    try:
        message = parse_incoming_text(data)
        check_instance(message)
    except Ignored as ignored:
        return attempts.ignored(ignored.reason)
    outcome = attempts.handle_message(message, request=request)
    # WhatsApp replies (opt-in, WHATSAPP_LOGIN_REPLIES): sent after commit, and a "NO"
    # signs the sender's last login out. A no-op when replies are off. See replies.py.
    from . import replies

    return replies.handle(message, outcome)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


@csrf_exempt  # authenticated by the webhook token instead (SR-1, SR-3)
@never_cache
def webhook_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    # Authenticate before the body is read or parsed.
    if not token_is_valid(request.headers.get("Authorization", ""), app_settings.WEBHOOK_TOKENS):
        # Counted per client IP only when the token is wrong, so a flood of forgeries from
        # elsewhere can never lock Green API (which has the token) out.
        retry_after = ratelimit.hit(
            "webhook_unauthorized",
            app_settings.RATE_LIMIT_WEBHOOK_UNAUTHORIZED,
            {"ip": ratelimit.client_ip(request)},
        )
        if retry_after:
            response = JsonResponse({"error": "rate_limited"}, status=429)
            response["Retry-After"] = str(retry_after)
            return response
        logger.warning("Webhook request with a missing or wrong token refused")
        return unauthorized()
    if _content_length(request) > MAX_BODY_BYTES:
        return _answer("ignored", "too_large")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _answer("ignored", "too_large")
    try:
        data = loads(body)
    except Ignored as ignored:
        return _answer("ignored", ignored.reason)
    outcome = handle_payload(data, request=request)
    if outcome.action == "ignored":
        logger.debug("Webhook delivery ignored: %s", outcome.reason)
    return _answer(outcome.action, outcome.reason)
