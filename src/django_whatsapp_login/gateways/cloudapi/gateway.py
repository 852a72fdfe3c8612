"""The Cloud API gateway: Meta's webhook and Graph API behind the :class:`Gateway` interface,
and the doctor's checks of its configuration."""

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
from ...doctor import FAIL, PASS, SKIP, WARN, Result
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ...phone import InvalidPhoneNumber, mask_phone, phone_digits
from ..base import Button, Gateway, Ignored, IncomingMessage
from .client import CloudAPIAuthError, CloudAPIClient, CloudAPIError, PhoneNumberInfo
from .payloads import GATEWAY, MAX_BODY_BYTES, Delivery, parse_delivery, read_message
from .signature import SIGNATURE_HEADER, verify_challenge, verify_signature

logger = logging.getLogger("django_whatsapp_login")

__all__ = [
    "CloudAPIGateway",
    "check_phone_number",
    "check_secrets",
    "check_settings",
    "check_subscription",
    "check_token",
    "run_checks",
]

DASHBOARD = "https://developers.facebook.com/apps"
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

    def checks(self) -> list[Result]:
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


# --- the doctor's checks: one concern each -------------------------------------------------


def _result(id: str, title: str, status: str, detail: str, fix: str = "") -> Result:
    # Like Doctor.add: a fix is only shown where something is to be fixed.
    return Result(id, title, status, detail, fix if status in (FAIL, WARN) else "")


def check_settings() -> Result:
    """The settings needed to call the Graph API are set, and the URL is safe for a token."""
    title = "Cloud API settings"
    missing = [
        name
        for name, value in (
            ("WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN", app_settings.CLOUD_API_ACCESS_TOKEN),
            ("WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID", app_settings.CLOUD_API_PHONE_NUMBER_ID),
        )
        if not value
    ]
    if missing:
        return _result(
            "cloudapi_settings",
            title,
            FAIL,
            "missing: " + ", ".join(missing),
            f"in {DASHBOARD} > your app > WhatsApp > API Setup, copy the phone number id; "
            "create a permanent token for a system user in Business Settings > System users",
        )
    problem = CloudAPIClient.url_problem(app_settings.CLOUD_API_URL)
    if problem:
        return _result(
            "cloudapi_settings",
            title,
            FAIL,
            problem,
            "set WHATSAPP_LOGIN_CLOUD_API_URL to https://graph.facebook.com (or remove it)",
        )
    return _result(
        "cloudapi_settings",
        title,
        PASS,
        f"phone number id {app_settings.CLOUD_API_PHONE_NUMBER_ID}, Graph API "
        f"{app_settings.CLOUD_API_API_VERSION}",
    )


def check_secrets() -> Result:
    """The webhook can authenticate Meta: an app secret and a verify token are set."""
    title = "Webhook secrets"
    try:
        secrets = app_settings.CLOUD_API_APP_SECRETS
        tokens = app_settings.CLOUD_API_VERIFY_TOKENS
    except WhatsAppLoginImproperlyConfigured as err:
        return _result("cloudapi_secrets", title, FAIL, str(err), "use a string or a list")
    missing = []
    if not secrets:
        missing.append("WHATSAPP_LOGIN_CLOUD_API_APP_SECRET (without it every delivery gets 401)")
    if not tokens:
        missing.append(
            "WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN (without it Meta cannot verify the "
            "webhook URL: 403)"
        )
    if missing:
        return _result(
            "cloudapi_secrets",
            title,
            FAIL,
            "missing: " + "; ".join(missing),
            f"the app secret is in {DASHBOARD} > your app > App settings > Basic; the verify "
            'token is any random value: python -c "import secrets; '
            'print(secrets.token_urlsafe(32))", entered in WhatsApp > Configuration too',
        )
    return _result(
        "cloudapi_secrets",
        title,
        PASS,
        f"{len(secrets)} app secret(s), {len(tokens)} verify token(s)",
    )


def check_token(client: CloudAPIClient) -> tuple[Result, PhoneNumberInfo | None]:
    """The access token works: Meta answers for the phone number id with it."""
    title = "Cloud API access token"
    try:
        info = client.phone_number()
    except CloudAPIAuthError as err:
        return (
            _result(
                "cloudapi_token",
                title,
                FAIL,
                f"the access token is refused: {err}",
                "create a permanent token for a system user (Business Settings > System "
                "users > Generate new token, with whatsapp_business_messaging and "
                "whatsapp_business_management) and set WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN",
            ),
            None,
        )
    except CloudAPIError as err:
        return (
            _result(
                "cloudapi_token",
                title,
                FAIL,
                str(err),
                "check WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID (WhatsApp > API Setup) and "
                "WHATSAPP_LOGIN_CLOUD_API_URL",
            ),
            None,
        )
    name = f" ({info.verified_name})" if info.verified_name else ""
    return _result("cloudapi_token", title, PASS, f"valid for +{info.digits}{name}"), info


def check_phone_number(info: PhoneNumberInfo | None) -> Result:
    """The phone number id is the number users are told to write to."""
    title = "Business phone"
    if info is None:
        return _result("cloudapi_phone", title, SKIP, "skipped: the token check failed")
    try:
        ours = phone_digits(app_settings.BUSINESS_PHONE)
    except InvalidPhoneNumber:
        return _result(
            "cloudapi_phone",
            title,
            FAIL,
            "WHATSAPP_LOGIN_BUSINESS_PHONE is not set",
            f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{info.digits}"',
        )
    if info.digits != ours:
        return _result(
            "cloudapi_phone",
            title,
            FAIL,
            f"the phone number id {info.id} is {mask_phone(info.digits)}, but "
            f"WHATSAPP_LOGIN_BUSINESS_PHONE is {mask_phone(ours)}: users would write to a "
            "number whose messages this site never receives",
            f'set WHATSAPP_LOGIN_BUSINESS_PHONE = "+{info.digits}", or the phone number id of '
            "the right number",
        )
    if info.quality_rating.upper() == "RED":
        return _result(
            "cloudapi_phone",
            title,
            WARN,
            f"+{ours}, quality rating RED: Meta may limit what this number sends",
            "see the number's quality in WhatsApp Manager > Phone numbers",
        )
    return _result("cloudapi_phone", title, PASS, f"+{ours}")


def check_subscription(client: CloudAPIClient) -> Result:
    """The app is subscribed to the ``messages`` field, so messages reach the webhook."""
    title = "Webhook subscription"
    if not app_settings.CLOUD_API_APP_ID:
        return _result(
            "cloudapi_subscription",
            title,
            WARN,
            "cannot check: WHATSAPP_LOGIN_CLOUD_API_APP_ID is not set",
            f"set it to the app id shown in {DASHBOARD}",
        )
    fix = (
        f"in {DASHBOARD} > your app > WhatsApp > Configuration, set the callback URL and "
        "verify token, then subscribe to the messages field"
    )
    try:
        subscriptions = client.subscriptions()
    except (CloudAPIError, WhatsAppLoginImproperlyConfigured) as err:
        return _result("cloudapi_subscription", title, FAIL, str(err), fix)
    for subscription in subscriptions:
        if subscription.object == "whatsapp_business_account" and subscription.active:
            if "messages" in subscription.fields:
                return _result(
                    "cloudapi_subscription",
                    title,
                    PASS,
                    f"messages -> {subscription.callback_url}",
                )
            return _result(
                "cloudapi_subscription",
                title,
                FAIL,
                "the app's webhook is not subscribed to the messages field (subscribed: "
                + (", ".join(subscription.fields) or "none")
                + "): no message ever reaches this site",
                fix,
            )
    return _result(
        "cloudapi_subscription",
        title,
        FAIL,
        "the app has no active WhatsApp Business Account webhook",
        fix,
    )


def run_checks(client_factory: Callable[[], CloudAPIClient]) -> list[Result]:
    """Every Cloud API check, in order; the remote ones are skipped without settings."""
    results = [check_settings(), check_secrets()]
    if results[0].status == FAIL:
        reason = "skipped: the Cloud API settings are incomplete"
        results += [
            _result("cloudapi_token", "Cloud API access token", SKIP, reason),
            _result("cloudapi_phone", "Business phone", SKIP, reason),
            _result("cloudapi_subscription", "Webhook subscription", SKIP, reason),
        ]
        return results
    with client_factory() as client:
        token, info = check_token(client)
        results += [token, check_phone_number(info), check_subscription(client)]
    return results
