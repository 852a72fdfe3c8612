"""The one webhook receiver: gateway.authenticate -> gateway.parse -> handle -> 200.

Whichever gateway is configured (``WHATSAPP_LOGIN_GATEWAY``), its provider re-sends every
non-200 answer (Green API each minute for 24 hours, Meta with backoff for days), and later
deliveries wait behind it. So: 401 only for a failed authentication, 405 for a wrong
method (or the gateway's own answer to a GET, Meta's handshake), and 200 for every
authenticated delivery, including the ones we ignore.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import attempts, headers, ratelimit, replies
from .conf import app_settings
from .gateways import Ignored, Message, get_gateway
from .gateways.greenapi.gateway import check_instance, read, token_is_valid

logger = logging.getLogger("django_whatsapp_login")

# check_instance and token_is_valid moved to gateways/greenapi/gateway.py; importable here
# as before.
__all__ = ["check_instance", "handle", "handle_payload", "token_is_valid", "webhook_view"]


def unauthorized() -> HttpResponse:
    response = JsonResponse({"error": "unauthorized"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="whatsapp_login"'
    return response


def _result(outcome: attempts.Outcome) -> dict[str, Any]:
    body: dict[str, Any] = {"status": outcome.action}
    if outcome.reason:
        body["reason"] = outcome.reason
    return body


#: The bodies of the answers that carry no per-message detail, by (status, reason): an
#: ignored delivery is the commonest request and needs no JSON encoding. Bounded.
_BODIES: dict[tuple[str, str], bytes] = {}


def _answer(status: str, reason: str = "") -> HttpResponse:
    key = (status, reason)
    body = _BODIES.get(key)
    if body is None:
        body = json.dumps(_result(attempts.Outcome(status, reason))).encode()
        if len(_BODIES) < 256:
            _BODIES[key] = body
    return HttpResponse(body, content_type="application/json")


def handle(message: Message, request: HttpRequest | None = None) -> attempts.Outcome:
    """One parsed message through the core: the attempt it names, then what we answer."""
    outcome = attempts.handle_message(message, request=request)
    # WhatsApp replies (opt-in, WHATSAPP_LOGIN_REPLIES): sent after commit, and a "NO"
    # signs the sender's last login out. A no-op when replies are off. See replies.py.
    return replies.handle(message, outcome)


def handle_payload(data: Any, request: HttpRequest | None = None) -> attempts.Outcome:
    """A decoded Green API notification, for the sandbox and the ``whatsapp_login_poll``
    transport (which receive Green API bodies whatever the webhook's gateway)."""
    try:
        message = read(data)
    except Ignored as ignored:
        return attempts.ignored(ignored.reason)
    return handle(message, request=request)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _delivery_answer(outcomes: Sequence[attempts.Outcome]) -> HttpResponse:
    if len(outcomes) == 1:
        return _answer(outcomes[0].action, outcomes[0].reason)
    return JsonResponse(
        {"status": "processed", "results": [_result(outcome) for outcome in outcomes]},
        status=200,
    )


@csrf_exempt  # authenticated by the gateway instead (SR-1, SR-3)
def webhook_view(request: HttpRequest) -> HttpResponse:
    """Every answer carries ``never_cache``'s headers (set from constants: :mod:`.headers`)."""
    return headers.never_cache(_receive(request))


def _receive(request: HttpRequest) -> HttpResponse:
    gateway = get_gateway()
    if request.method != "POST":
        return gateway.verify(request)
    # Authenticate before the body is parsed (Green API: before it is read).
    if not gateway.authenticate(request):
        # Counted per client IP only when authentication fails, so a flood of forgeries
        # from elsewhere can never lock the provider (which has the secret) out.
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
    limit = gateway.max_body_bytes
    if _content_length(request) > limit:
        return _answer("ignored", "too_large")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _answer("ignored", "too_large")
    try:
        messages = gateway.parse(body)
    except Ignored as ignored:
        logger.debug("Webhook delivery ignored: %s", ignored.reason)
        return _answer("ignored", ignored.reason)
    outcomes = [handle(message, request=request) for message in messages]
    for outcome in outcomes:
        if outcome.action == "ignored":
            logger.debug("Webhook message ignored: %s", outcome.reason)
    return _delivery_answer(outcomes)
