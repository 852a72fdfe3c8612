"""The Cloud API gateway: Meta's webhook and Graph API behind the :class:`Gateway` interface
(its doctor's checks are in :mod:`.checks`)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from ... import ratelimit
from ...conf import app_settings
from ...doctor import Checkup, Result
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ...phone import phone_digits
from ..base import Button, Gateway, Ignored, IncomingMessage
from .checks import run_checks
from .client import CloudAPIClient
from .payloads import GATEWAY, MAX_BODY_BYTES, Delivery, parse_delivery, read_message
from .signature import SIGNATURE_HEADER, verify_challenge, verify_signature

logger = logging.getLogger("django_whatsapp_login")

__all__ = ["CloudAPIGateway"]

_HANDSHAKE_PARAMS = ("hub.mode", "hub.verify_token", "hub.challenge")


class CloudAPIGateway(Gateway):
    """Meta's WhatsApp Cloud API, configured by the ``WHATSAPP_LOGIN_CLOUD_API_*`` settings.

    ``client_factory`` builds the Graph API client (tests inject one); by default a client
    for the settings, made per call so that a settings change applies at once.
    """

    name = GATEWAY
    max_body_bytes = MAX_BODY_BYTES

    def __init__(self, *, client_factory: Callable[[], CloudAPIClient] | None = None) -> None:
        self._client_factory = client_factory or CloudAPIClient.from_settings

    def client(self) -> CloudAPIClient:
        return self._client_factory()

    # --- receiving -------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest) -> bool:
        """Check ``X-Hub-Signature-256`` against every configured app secret.

        The signature covers the raw body, so the body is read here (Django bounds it by
        ``DATA_UPLOAD_MAX_MEMORY_SIZE``) but not parsed. A request without the header, or
        with no secret configured, is refused before a byte of the body is read.
        """
        header = request.headers.get(SIGNATURE_HEADER, "")
        try:
            secrets = app_settings.CLOUD_API_APP_SECRETS
        except WhatsAppLoginImproperlyConfigured:
            secrets = []
        if not header or not secrets:
            return False
        try:
            body = request.body
        except RequestDataTooBig:
            return False
        return verify_signature(body, header, secrets)

    def parse_delivery(self, body: bytes) -> Delivery:
        """Everything in ``body``, with the skipped parts and why (for logs and tests)."""
        return parse_delivery(body)

    def parse(self, body: bytes) -> list[IncomingMessage]:
        """The messages of ``body`` written to our phone number id, in delivery order.

        One app's webhook receives the deliveries of every number of the WhatsApp Business
        accounts it is subscribed to: messages for another ``phone_number_id`` are dropped
        (with a warning) like Green API deliveries of another instance.
        """
        delivery = parse_delivery(body)
        ours = app_settings.CLOUD_API_PHONE_NUMBER_ID
        if not ours:
            raise Ignored("no_phone_number_id")
        messages = [message for message in delivery.messages if message.business == ours]
        foreign = len(delivery.messages) - len(messages)
        if foreign:
            logger.warning(
                "%d Cloud API message(s) for another phone number id ignored "
                "(WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID is %s)",
                foreign,
                ours,
            )
        if not messages:
            raise Ignored("wrong_phone_number_id" if foreign else delivery.reason)
        return messages

    def verify(self, request: HttpRequest) -> HttpResponse:
        """Answer Meta's ``GET`` subscription handshake (the dashboard's "Verify and save").

        200 with the challenge as ``text/plain``; 403 for a wrong or missing verify token
        (counted per client IP like a wrong POST signature, 429 above the limit); 400 for a
        challenge that is not a short URL-safe value; 405 for other methods.
        """
        if request.method != "GET":
            response = HttpResponse(status=405)
            response["Allow"] = "GET, POST"
            return response
        try:
            tokens = app_settings.CLOUD_API_VERIFY_TOKENS
        except WhatsAppLoginImproperlyConfigured:
            tokens = []
        params = {name: request.GET.get(name, "") for name in _HANDSHAKE_PARAMS}
        status, body = verify_challenge(params, tokens)
        if status == 403:
            retry_after = ratelimit.hit(
                "webhook_unauthorized",
                app_settings.RATE_LIMIT_WEBHOOK_UNAUTHORIZED,
                {"ip": ratelimit.client_ip(request)},
            )
            if retry_after:
                response = HttpResponse(status=429)
                response["Retry-After"] = str(retry_after)
                return response
            logger.warning("Cloud API handshake with a missing or wrong verify token refused")
        response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "no-store"
        return response

    # --- sending ---------------------------------------------------------------------------

    def send_text(self, to: str, text: str, *, reply_to: str = "") -> str:
        with self.client() as client:
            return client.send_text(to, text, reply_to=reply_to)

    def send_question(
        self, to: str, text: str, buttons: Sequence[Button], *, reply_to: str = ""
    ) -> str:
        """Reply buttons (up to 3, titles <= 20 characters); a press arrives as a message
        whose ``button_id`` is the button's id and ``text`` its title."""
        with self.client() as client:
            return client.send_buttons(to, text, buttons, reply_to=reply_to)

    # --- the doctor ------------------------------------------------------------------------

    def checks(self, checkup: Checkup | None = None) -> list[Result]:
        """Settings, webhook secrets, the token, the business number, the webhook
        subscription (:mod:`.checks`)."""
        return run_checks(self.client)

    # --- added for the allauth adapter (kept at the end of the class) ----------------------

    def send_code(self, to: str, text: str, *, timeout: float) -> str:
        """A text through the Graph API, one retry, each request waiting at most
        ``timeout`` (an injected ``client_factory`` is used as it is)."""
        factory = self._client_factory
        if factory == CloudAPIClient.from_settings:
            with CloudAPIClient.from_settings(timeout=timeout, max_retries=1) as client:
                return client.send_text(to, text)
        with factory() as client:
            return client.send_text(to, text)

    def missing_send_settings(self) -> list[str]:
        needed = {
            "WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN": app_settings.CLOUD_API_ACCESS_TOKEN,
            "WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID": app_settings.CLOUD_API_PHONE_NUMBER_ID,
        }
        return [name for name, value in needed.items() if not value]

    def sandbox_messages(
        self, phone: str, text: str, *, quoted_id: str = "", button_id: str = ""
    ) -> Sequence[IncomingMessage]:
        """A ``messages[]`` element as Meta sends it, read by the webhook's parser: a text,
        or with ``button_id`` an ``interactive`` ``button_reply`` (the YES/NO buttons)."""
        digits = phone_digits(phone)
        message: dict[str, Any] = {
            "from": digits,
            "id": "wamid.SANDBOX" + secrets.token_hex(8).upper(),
            "timestamp": str(int(time.time())),
        }
        if button_id:
            message["type"] = "interactive"
            message["interactive"] = {
                "type": "button_reply",
                "button_reply": {"id": button_id, "title": text},
            }
        else:
            message.update(type="text", text={"body": text})
        if quoted_id:
            message["context"] = {
                "from": phone_digits(app_settings.BUSINESS_PHONE),
                "id": quoted_id,
            }
        contacts = [{"profile": {"name": "Sandbox"}, "wa_id": digits}]
        business = app_settings.CLOUD_API_PHONE_NUMBER_ID or "sandbox"
        return [read_message(message, business, contacts)]
