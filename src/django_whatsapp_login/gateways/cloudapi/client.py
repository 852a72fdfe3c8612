"""A small client for the Graph API calls the Cloud API gateway makes.

``POST /{version}/{phone-number-id}/messages`` (text and reply buttons), ``GET
/{version}/{phone-number-id}`` (the number's name and quality) and ``GET
/{version}/{app-id}/subscriptions`` (the app's webhook fields, with an app access token).

The access token travels in the ``Authorization`` header, never in a URL. It is kept off
every ``repr`` and exception text: errors are built from the call's name, the HTTP status
and Meta's own error fields, with every known secret replaced by ``***`` (:mod:`..http`,
whose logging filter also covers urllib3's request lines).

Every request has a timeout. 429 and 5xx answers are retried with exponential backoff or
the server's ``Retry-After``, but the total wait of one call never exceeds ``max_wait``: a
reply sent from a webhook must not hold Meta's delivery for long. A send is also retried
after a 5xx (Meta answers those when it did not take the message; a rare duplicate notice
beats a lost confirmation question), never after a read timeout (it may have been sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from ...conf import app_settings
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ..base import Button, GatewayError
from ..http import (
    SessionClient,
    insecure_url_problem,
    redact,
    remember_secret,
    retry_after,
)

logger = logging.getLogger("django_whatsapp_login")

__all__ = [
    "MAX_BUTTONS",
    "MAX_BUTTON_TITLE_CHARS",
    "CloudAPIAuthError",
    "CloudAPIClient",
    "CloudAPIError",
    "CloudAPIRateLimited",
    "CloudAPIUnavailable",
    "PhoneNumberInfo",
    "Subscription",
]

MAX_BUTTONS = 3
MAX_BUTTON_TITLE_CHARS = 20
MAX_BUTTON_ID_CHARS = 256
MAX_TEXT_BODY_CHARS = 4096
MAX_QUESTION_BODY_CHARS = 1024
#: Meta error codes that mean the token is wrong, expired or lacks a permission.
AUTH_CODES = frozenset({190, 102, 10}) | frozenset(range(200, 300))
#: Meta error codes that mean "too many requests", whatever the HTTP status.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})

# Indirection so tests can make backoff instantaneous without patching time.sleep globally.
_sleep: Callable[[float], None] = time.sleep


# --- errors ------------------------------------------------------------------------------


class CloudAPIError(GatewayError):
    """A Graph API call failed. ``str()`` names the call and Meta's reason, never a token.

    ``code``/``subcode`` are Meta's ``error.code``/``error.error_subcode`` when it sent them
    (``131047``: outside the 24-hour window; ``131026``: not deliverable...).
    """

    def __init__(
        self,
        call: str,
        reason: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        trace_id: str = "",
    ) -> None:
        self.call = call
        self.status = status
        self.code = code
        self.subcode = subcode
        self.trace_id = redact(trace_id)[:64]
        self.reason = redact(reason)[:500]
        super().__init__(self.__str__())

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        code = f" [code {self.code}" if self.code is not None else ""
        if code:
            code += f"/{self.subcode}]" if self.subcode is not None else "]"
        return f"Cloud API {self.call} failed{status}{code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.call!r}, status={self.status!r}, code={self.code!r})"


class CloudAPIAuthError(CloudAPIError):
    """The access token is invalid, expired (code 190) or lacks a permission (10, 2xx)."""


class CloudAPIRateLimited(CloudAPIError):
    """Too many requests, still after every retry the call's wait budget allowed."""


class CloudAPIUnavailable(CloudAPIError):
    """No usable answer: connection failed, timed out, or Meta answered 5xx every time."""


# --- typed results -----------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneNumberInfo:
    """``GET /{phone-number-id}``: the business number as Meta knows it."""

    id: str
    #: As Meta formats it (``"+996 555 000 001"``); compare digits only.
    display_phone_number: str
    verified_name: str
    #: ``GREEN``, ``YELLOW``, ``RED`` or ``UNKNOWN``.
    quality_rating: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.display_phone_number if ch.isdigit())


@dataclass(frozen=True)
class Subscription:
    """One object of ``GET /{app-id}/subscriptions``."""

    object: str
    callback_url: str
    active: bool
    fields: tuple[str, ...]


# --- the client --------------------------------------------------------------------------


def _json_error(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_buttons(buttons: Sequence[Button]) -> None:
    """Meta's rules for reply buttons, checked before a request is spent on them."""
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"a question has 1 to {MAX_BUTTONS} buttons, not {len(buttons)}")
    ids = [button_id for button_id, _ in buttons]
    titles = [title for _, title in buttons]
    for button_id, title in buttons:
        if not button_id or len(button_id) > MAX_BUTTON_ID_CHARS:
            raise ValueError(f"a button id has 1 to {MAX_BUTTON_ID_CHARS} characters")
        if not title.strip() or len(title) > MAX_BUTTON_TITLE_CHARS:
            raise ValueError(f"a button title has 1 to {MAX_BUTTON_TITLE_CHARS} characters")
    if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
        raise ValueError("button ids and titles must be unique within a question")


def recipient(to: str) -> dict[str, str]:
    """The recipient fields of a send: ``to`` for a phone (digits, ``+`` allowed), else
    ``recipient`` for a business-scoped user id (Meta's field for users without a phone)."""
    digits = to.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        return {"to": digits}
    return {"recipient": to}


class CloudAPIClient(SessionClient):
    """The Graph API for one business phone number.

    ``timeout`` is the per-request timeout in seconds; ``max_retries`` extra attempts are
    made on 429/5xx/connection errors as long as the waits of one call stay within
    ``max_wait`` seconds in total. ``app_id`` and ``app_secret`` are needed only for
    :meth:`subscriptions`.
    """

    def __init__(
        self,
        api_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        *,
        app_id: str = "",
        app_secret: str = "",
        timeout: float = 10.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_wait: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if not phone_number_id or not access_token:
            raise WhatsAppLoginImproperlyConfigured(
                "WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID and WHATSAPP_LOGIN_CLOUD_API_ACCESS_"
                "TOKEN must be set to call the Cloud API."
            )
        super().__init__(
            api_url, timeout=timeout, max_retries=max_retries, backoff=backoff, session=session
        )
        self.version = version
        self.phone_number_id = str(phone_number_id)
        self.app_id = str(app_id)
        self._token = access_token
        self._app_token = f"{app_id}|{app_secret}" if app_id and app_secret else ""
        for secret in (access_token, app_secret, self._app_token):
            remember_secret(secret)
        self.max_wait = max_wait

    @classmethod
    def from_settings(cls, **kwargs: Any) -> CloudAPIClient:
        """A client for the ``WHATSAPP_LOGIN_CLOUD_API_*`` settings (first app secret)."""
        secrets = app_settings.CLOUD_API_APP_SECRETS
        kwargs.setdefault("timeout", app_settings.CLOUD_API_TIMEOUT)
        return cls(
            app_settings.CLOUD_API_URL,
            app_settings.CLOUD_API_API_VERSION,
            app_settings.CLOUD_API_PHONE_NUMBER_ID,
            app_settings.CLOUD_API_ACCESS_TOKEN,
            app_id=app_settings.CLOUD_API_APP_ID,
            app_secret=secrets[0] if secrets else "",
            **kwargs,
        )

    @staticmethod
    def url_problem(api_url: str) -> str:
        """Why ``api_url`` must not receive the token, or ``""`` (plain http only on
        loopback: a local fake)."""
        return insecure_url_problem(api_url, "the access token would cross the network in clear")

    def __repr__(self) -> str:
        return f"<CloudAPIClient {self.api_url}/{self.version} phone {self.phone_number_id}>"

    # --- the API calls ---------------------------------------------------------------------

    def send_text(self, to: str, text: str, *, reply_to: str = "") -> str:
        """Send a text message; returns its ``wamid``."""
        if not text or len(text) > MAX_TEXT_BODY_CHARS:
            raise ValueError(f"a text message has 1 to {MAX_TEXT_BODY_CHARS} characters")
        return self._send(to, {"type": "text", "text": {"body": text}}, reply_to)

    def send_buttons(
        self, to: str, text: str, buttons: Sequence[Button], *, reply_to: str = ""
    ) -> str:
        """Send ``text`` with up to 3 reply buttons ``(id, title)``; returns its ``wamid``.
        The user's choice comes back as an ``interactive.button_reply`` with that id."""
        if not text or len(text) > MAX_QUESTION_BODY_CHARS:
            raise ValueError(f"a question has 1 to {MAX_QUESTION_BODY_CHARS} characters")
        _check_buttons(buttons)
        interactive = {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": button_id, "title": title}}
                    for button_id, title in buttons
                ]
            },
        }
        return self._send(to, {"type": "interactive", "interactive": interactive}, reply_to)

    def phone_number(self) -> PhoneNumberInfo:
        """The business number behind :attr:`phone_number_id` (proves the token works)."""
        data = self._call(
            "GET",
            "phone_number",
            self.phone_number_id,
            params={"fields": "display_phone_number,verified_name,quality_rating"},
        )
        return PhoneNumberInfo(
            id=str(data.get("id") or self.phone_number_id),
            display_phone_number=str(data.get("display_phone_number") or ""),
            verified_name=str(data.get("verified_name") or ""),
            quality_rating=str(data.get("quality_rating") or ""),
            raw=dict(data),
        )

    def subscriptions(self) -> list[Subscription]:
        """The app's webhook subscriptions (needs the app id and secret: an app token)."""
        if not self._app_token:
            raise WhatsAppLoginImproperlyConfigured(
                "WHATSAPP_LOGIN_CLOUD_API_APP_ID and WHATSAPP_LOGIN_CLOUD_API_APP_SECRET are "
                "needed to read the app's webhook subscriptions."
            )
        data = self._call("GET", "subscriptions", f"{self.app_id}/subscriptions", app=True)
        items = data.get("data")
        if not isinstance(items, list):
            raise CloudAPIError("subscriptions", "the answer has no data list")
        found = []
        for item in items:
            if not isinstance(item, dict):
                continue
            fields = item.get("fields")
            names = [
                f.get("name") if isinstance(f, dict) else f
                for f in (fields if isinstance(fields, list) else [])
            ]
            found.append(
                Subscription(
                    object=str(item.get("object") or ""),
                    callback_url=str(item.get("callback_url") or ""),
                    active=item.get("active") is True,
                    fields=tuple(name for name in names if isinstance(name, str)),
                )
            )
        return found

    # --- plumbing --------------------------------------------------------------------------

    def _send(self, to: str, content: dict[str, Any], reply_to: str) -> str:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient(to),
            **content,
        }
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        data = self._call(
            "POST", "send_message", f"{self.phone_number_id}/messages", json=payload, send=True
        )
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise CloudAPIError("send_message", "the answer has no message id")
        return message_id

    def _call(
        self,
        method: str,
        call: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        app: bool = False,
        send: bool = False,
    ) -> dict[str, Any]:
        url = f"{self.api_url}/{self.version}/{path}"
        headers = {"Authorization": f"Bearer {self._app_token if app else self._token}"}
        waited = 0.0
        attempt = 0
        while True:
            wait_for: float | None = None
            cause: Exception | None = None
            try:
                response = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.ConnectionError as err:
                cause = err
                error: CloudAPIError = CloudAPIUnavailable(
                    call, f"cannot connect to {self.api_url} ({type(err).__name__})"
                )
                # Only a failed connect proves a message was not sent.
                if send and not isinstance(err, requests.ConnectTimeout):
                    raise error from err
            except requests.Timeout as err:
                cause = err
                error = CloudAPIUnavailable(call, f"no answer within {self.timeout:g} s")
                if send:
                    raise error from err
            except requests.RequestException as err:
                raise CloudAPIError(call, type(err).__name__) from err
            else:
                if response.status_code == 200:
                    return self._decode(call, response)
                error = self._http_error(call, response)
                if response.status_code == 429:
                    wait_for = retry_after(response)
                elif response.status_code < 500:
                    raise error
            wait = wait_for if wait_for is not None else self.backoff * (2**attempt)
            if attempt >= self.max_retries or waited + wait > self.max_wait:
                raise error from cause
            logger.warning("%s; retrying in %.1f s", error, wait)
            _sleep(wait)
            waited += wait
            attempt += 1

    @staticmethod
    def _decode(call: str, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise CloudAPIError(call, "the answer is not JSON", status=200) from None
        if not isinstance(data, dict):
            raise CloudAPIError(call, f"unexpected answer of type {type(data).__name__}")
        return data

    @staticmethod
    def _http_error(call: str, response: requests.Response) -> CloudAPIError:
        status = response.status_code
        error = _json_error(response)
        code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
        message = error.get("message")
        reason = message if isinstance(message, str) and message else f"HTTP {status}"
        trace = error.get("fbtrace_id")
        details: dict[str, Any] = {
            "status": status,
            "code": code,
            "subcode": subcode,
            "trace_id": trace if isinstance(trace, str) else "",
        }
        if status in (401, 403) or code in AUTH_CODES:
            return CloudAPIAuthError(
                call,
                f"{reason} (check WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN: a system user's "
                "permanent token with whatsapp_business_messaging)",
                **details,
            )
        if status == 429 or code in RATE_LIMIT_CODES:
            return CloudAPIRateLimited(call, reason, **details)
        if status >= 500:
            return CloudAPIUnavailable(call, reason, **details)
        return CloudAPIError(call, reason, **details)
