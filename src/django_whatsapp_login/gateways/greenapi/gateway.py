"""The Green API gateway: today's parser and client behind the :class:`Gateway` interface."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest

from ...conf import app_settings
from ...doctor import Checkup, Result
from ...phone import InvalidPhoneNumber, mask_phone, phone_digits
from ..base import Button, Gateway, Ignored
from .client import GreenAPIClient
from .payloads import MAX_BODY_BYTES, IncomingText, loads, parse_incoming_text

logger = logging.getLogger("django_whatsapp_login")

__all__ = ["GATEWAY", "GreenAPIGateway", "check_instance", "read", "token_is_valid"]

GATEWAY = "greenapi"
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


def read(data: Any) -> IncomingText:
    """A decoded notification (webhook body, polled ``receiveNotification`` body or the
    sandbox's) as a message for us; raises :class:`Ignored` otherwise."""
    message = parse_incoming_text(data)
    check_instance(message)
    return message


class GreenAPIGateway(Gateway):
    """Green API, configured by the ``WHATSAPP_LOGIN_GREEN_API_*`` settings and
    ``WHATSAPP_LOGIN_WEBHOOK_TOKEN``. One notification carries one message."""

    name = GATEWAY
    max_body_bytes = MAX_BODY_BYTES

    def __init__(self, *, client_factory: Callable[[], GreenAPIClient] | None = None) -> None:
        #: Builds the client of the doctor's checks (tests inject one); ``None``: the settings'.
        self._client_factory = client_factory

    def authenticate(self, request: HttpRequest) -> bool:
        """The ``Authorization`` header against every ``WHATSAPP_LOGIN_WEBHOOK_TOKEN``."""
        # META, not request.headers: the latter builds a dict of every header per request.
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        return token_is_valid(authorization, app_settings.WEBHOOK_TOKENS)

    def parse(self, body: bytes) -> Sequence[IncomingText]:
        return [read(loads(body))]

    def send_text(self, to: str, text: str, *, reply_to: str = "") -> str:
        """``sendMessage`` to ``to`` (a chat id), once: replies are never retried (SR-24),
        and wait at most ``WHATSAPP_LOGIN_REPLY_TIMEOUT``. ``reply_to`` is not quoted."""
        timeout = app_settings.REPLY_TIMEOUT
        with GreenAPIClient.from_settings(timeout=timeout, max_retries=0) as client:
            sent = client.send_message(to, text, timeout=timeout, max_retries=0)
        return sent.id_message

    def send_question(
        self, to: str, text: str, buttons: Sequence[Button], *, reply_to: str = ""
    ) -> str:
        """Green API has no reply buttons (its button messages are deprecated): the question
        goes as text, which already says what to reply."""
        return self.send_text(to, text, reply_to=reply_to)

    def chat_for_phone(self, phone: str) -> str:
        return phone_digits(phone) + "@c.us"

    # The checks import this module (token_is_valid), and receiving a webhook needs none of
    # them: they are loaded when the doctor runs.

    def checks(self, checkup: Checkup | None = None) -> list[Result]:
        """The instance, its webhook settings, LID mode and the quota
        (:mod:`.checks`)."""
        from .checks import GreenAPIChecks

        return GreenAPIChecks(checkup or Checkup(), self._client_factory).run()

    def self_test(self, checkup: Checkup) -> list[Result]:
        """An authenticated test delivery to the webhook URL (:func:`.checks.self_test`)."""
        from .checks import self_test

        return self_test(checkup)

    def send_code(self, to: str, text: str, *, timeout: float) -> str:
        """``sendMessage`` with one retry, each request waiting at most ``timeout``."""
        with GreenAPIClient.from_settings(timeout=timeout, max_retries=1) as client:
            return client.send_message(to, text).id_message

    def missing_send_settings(self) -> list[str]:
        return [
            name
            for name, value in (
                ("WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE", app_settings.GREEN_API_ID_INSTANCE),
                ("WHATSAPP_LOGIN_GREEN_API_TOKEN", app_settings.GREEN_API_TOKEN),
            )
            if not value
        ]

    def sandbox_messages(
        self, phone: str, text: str, *, quoted_id: str = "", button_id: str = ""
    ) -> Sequence[IncomingText]:
        """An ``incomingMessageReceived`` notification for ``text`` from ``phone``, read like
        a webhook body. Green API has no reply buttons: ``button_id`` is not sent, ``text``
        (the answer word) is, quoting the question."""
        sender = phone_digits(phone)
        message_data: dict[str, Any] = {
            "typeMessage": "textMessage",
            "textMessageData": {"textMessage": text},
        }
        if quoted_id:
            message_data = {
                "typeMessage": "extendedTextMessage",
                "extendedTextMessageData": {"text": text, "stanzaId": quoted_id},
                "quotedMessage": {"stanzaId": quoted_id, "typeMessage": "textMessage"},
            }
        notification = {
            "typeWebhook": "incomingMessageReceived",
            "instanceData": {
                "idInstance": app_settings.GREEN_API_ID_INSTANCE or "0",
                "wid": phone_digits(app_settings.BUSINESS_PHONE) + "@c.us",
                "typeInstance": "whatsapp",
            },
            "timestamp": int(time.time()),
            "idMessage": "SANDBOX" + secrets.token_hex(8).upper(),
            "senderData": {
                "chatId": f"{sender}@c.us",
                "sender": f"{sender}@c.us",
                "senderName": "Sandbox",
            },
            "messageData": message_data,
        }
        return [read(notification)]
