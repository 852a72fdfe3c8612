"""A small client for the Green API HTTP API (the instance-management and messaging calls).

Every URL is ``{WHATSAPP_LOGIN_GREEN_API_URL}/waInstance{id}/{method}/{token}``: the API token
sits in the path of every request. So this module never lets a URL reach a log line, an
exception text or a ``repr``:

- errors are built from the method name, the HTTP status and Green API's own message, with
  every known secret replaced by ``***``;
- exceptions raised by ``requests`` (whose text contains the URL) are not chained (``from
  None``); their redacted text is kept in :attr:`GreenAPIError.detail` instead;
- urllib3 logs each request line at DEBUG level, URL included: the logging filter of
  :mod:`..http` redacts the tokens of every client created here.

One ``requests.Session`` per client, a timeout on every call, and retries with backoff on
429 and 5xx. Green API limits each method per instance (1 request/s for the settings calls,
50/s for ``sendMessage``, 100/s for the notification queue); the client spaces its own calls
accordingly and honours ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ...conf import app_settings
from ...exceptions import WhatsAppLoginImproperlyConfigured
from ...phone import chat_id_to_lid, phone_digits
from ..http import (
    SessionClient,
    insecure_url_problem,
    is_loopback,
    redact,
    remember_secret,
    retry_after,
)

logger = logging.getLogger("django_whatsapp_login")

__all__ = [
    "QUOTA_CACHE_KEY",
    "RATE_LIMITS",
    "AuthorizationFailed",
    "GreenAPIClient",
    "GreenAPIError",
    "InstanceSettings",
    "InstanceState",
    "Notification",
    "QuotaExceeded",
    "RateLimited",
    "SentMessage",
    "WaSettings",
    "WhatsAppCheck",
    "is_loopback",
    "parse_flag",
    "redact",
]

#: Requests per second Green API allows per instance and method (docs: "ratelimiter").
RATE_LIMITS: dict[str, float] = {
    "getSettings": 1,
    "setSettings": 1,
    "getStateInstance": 1,
    "getWaSettings": 1,
    "getContacts": 1,
    "qr": 3,
    "checkWhatsapp": 10,
    "sendMessage": 50,
    "receiveNotification": 100,
    "deleteNotification": 100,
}
#: Methods whose repetition after a 5xx or a read timeout could do something twice.
NOT_IDEMPOTENT = frozenset({"sendMessage"})
#: Never wait longer than this for one Retry-After.
MAX_RETRY_AFTER = 30.0
QUOTA_CACHE_KEY = "whatsapp_login:greenapi:quota_exceeded"

# Indirection so tests can make backoff instantaneous without patching time.sleep globally.
_sleep: Callable[[float], None] = time.sleep

# --- errors ---------------------------------------------------------------------------


class GreenAPIError(Exception):
    """A Green API call failed. ``str()`` names the call and the reason, never the token."""

    def __init__(
        self, method: str, reason: str, *, status: int | None = None, detail: str = ""
    ) -> None:
        self.method = method
        self.status = status
        self.reason = redact(reason)
        self.detail = redact(detail)[:500]
        super().__init__(self.__str__())

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        text = f"Green API {self.method} failed{status}: {self.reason}"
        return f"{text} [{self.detail}]" if self.detail else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method!r}, status={self.status!r})"


class QuotaExceeded(GreenAPIError):
    """HTTP 466: the plan's quota is used up (the Developer plan allows 3 chats a month)."""


class RateLimited(GreenAPIError):
    """HTTP 429 after every retry."""


class AuthorizationFailed(GreenAPIError):
    """HTTP 401/403: the instance id or API token is wrong."""


# --- typed results --------------------------------------------------------------------


def parse_flag(value: Any) -> bool | None:
    """Green API flags are ``"yes"``/``"no"`` (``enableLidMode`` may be a real boolean)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false"):
        return value.lower() in ("yes", "true")
    return None


@dataclass(frozen=True)
class InstanceState:
    """``getStateInstance``: ``authorized``, ``notAuthorized``, ``blocked``, ``starting``,
    ``yellowCard``, ``sleepMode``; ``None`` while the instance is still being created."""

    state: str | None

    @property
    def authorized(self) -> bool:
        return self.state == "authorized"


@dataclass(frozen=True)
class InstanceSettings:
    """``getSettings``; the flags as booleans (``None`` when the instance does not report them)."""

    wid: str
    webhook_url: str
    webhook_url_token: str = field(repr=False)
    incoming_webhook: bool | None
    outgoing_webhook: bool | None
    outgoing_message_webhook: bool | None
    outgoing_api_message_webhook: bool | None
    state_webhook: bool | None
    enable_lid_mode: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceSettings:
        return cls(
            wid=str(data.get("wid") or ""),
            webhook_url=str(data.get("webhookUrl") or ""),
            webhook_url_token=str(data.get("webhookUrlToken") or ""),
            incoming_webhook=parse_flag(data.get("incomingWebhook")),
            outgoing_webhook=parse_flag(data.get("outgoingWebhook")),
            outgoing_message_webhook=parse_flag(data.get("outgoingMessageWebhook")),
            outgoing_api_message_webhook=parse_flag(data.get("outgoingAPIMessageWebhook")),
            state_webhook=parse_flag(data.get("stateWebhook")),
            enable_lid_mode=parse_flag(data.get("enableLidMode")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class WaSettings:
    """``getWaSettings``: the WhatsApp account behind the instance (empty until authorised)."""

    phone: str
    state_instance: str
    chat_id: str
    device_id: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SentMessage:
    id_message: str


@dataclass(frozen=True)
class Notification:
    """One queued notification: ``body`` is exactly what the webhook would have received."""

    receipt_id: int
    body: Any = field(repr=False)


# --- the client -----------------------------------------------------------------------


@dataclass(frozen=True)
class WhatsAppCheck:
    """The answer of ``checkWhatsapp``: does the number use WhatsApp, and under which LID."""

    exists: bool
    #: ``"<digits>@lid"`` when Green API answered one (canonical form), else ``None``.
    lid: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class GreenAPIClient(SessionClient):
    """The Green API HTTP API of one instance.

    ``max_retries`` extra attempts are made on 429, 5xx and connection errors, waiting
    ``backoff * 2**n`` seconds or the server's ``Retry-After``. A method that is not
    idempotent (``sendMessage``) is repeated only on 429 and on a connect timeout: after a
    5xx, a read timeout or any other connection error the text may already have been sent.
    ``timeout`` is the per-request timeout in seconds.
    """

    def __init__(
        self,
        api_url: str,
        id_instance: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        session: requests.Session | None = None,
    ) -> None:
        if not id_instance or not api_token:
            raise WhatsAppLoginImproperlyConfigured(
                "WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE and WHATSAPP_LOGIN_GREEN_API_TOKEN must "
                "be set to call the Green API."
            )
        super().__init__(
            api_url, timeout=timeout, max_retries=max_retries, backoff=backoff, session=session
        )
        self.id_instance = str(id_instance)
        self._token = api_token
        remember_secret(api_token)
        self._last_call: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def url_problem(cls, api_url: str) -> str:
        """Why ``api_url`` must not carry the API token, or ``""``.

        The token is part of every request's path, so over plain http anyone on the way
        reads it. Plain http is accepted only for a loopback host (a local fake or tunnel).
        """
        return insecure_url_problem(
            api_url,
            "the API token rides in every request's URL, so anyone on the way would read it; "
            "use the https apiUrl from the console",
        )

    @classmethod
    def from_settings(cls, **kwargs: Any) -> GreenAPIClient:
        """A client for the instance configured in the ``WHATSAPP_LOGIN_GREEN_API_*`` settings."""
        kwargs.setdefault("timeout", app_settings.GREEN_API_TIMEOUT)
        return cls(
            app_settings.GREEN_API_URL,
            app_settings.GREEN_API_ID_INSTANCE,
            app_settings.GREEN_API_TOKEN,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<GreenAPIClient {self.api_url} waInstance{self.id_instance}>"

    # --- the API methods ---------------------------------------------------------------

    def get_state_instance(self) -> InstanceState:
        data = self._call("GET", "getStateInstance")
        if data is None:
            return InstanceState(None)
        state = self._object("getStateInstance", data).get("stateInstance")
        return InstanceState(str(state) if state else None)

    def get_settings(self) -> InstanceSettings:
        data = self._call("GET", "getSettings")
        return InstanceSettings.from_json(self._object("getSettings", data))

    def set_settings(self, changes: dict[str, Any]) -> bool:
        """Change some settings. The instance restarts; they apply within about 5 minutes."""
        data = self._object("setSettings", self._call("POST", "setSettings", json=changes))
        return data.get("saveSettings") is True

    def get_wa_settings(self) -> WaSettings:
        data = self._object("getWaSettings", self._call("GET", "getWaSettings"))
        return WaSettings(
            phone=str(data.get("phone") or ""),
            state_instance=str(data.get("stateInstance") or ""),
            chat_id=str(data.get("chatId") or ""),
            device_id=str(data.get("deviceId") or ""),
            raw=dict(data),
        )

    def send_message(
        self,
        chat_id: str,
        message: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> SentMessage:
        data = self._object(
            "sendMessage",
            self._call(
                "POST",
                "sendMessage",
                json={"chatId": chat_id, "message": message},
                timeout=timeout,
                max_retries=max_retries,
            ),
        )
        id_message = data.get("idMessage")
        if not isinstance(id_message, str) or not id_message:
            raise GreenAPIError("sendMessage", "the answer has no idMessage")
        return SentMessage(id_message)

    def check_whatsapp(self, phone: str, *, max_retries: int | None = None) -> WhatsAppCheck:
        """Ask whether ``phone`` (E.164 or digits) has WhatsApp, and its LID.

        Uses the ``chatId`` form of the request (``phoneNumber`` is deprecated). Counts
        against the plan's monthly ``checkWhatsapp`` quota (466 raises
        :class:`QuotaExceeded`); spaced to Green API's 10 requests/s per instance.
        """
        digits = phone_digits(phone)
        data = self._object(
            "checkWhatsapp",
            self._call(
                "POST", "checkWhatsapp", json={"chatId": f"{digits}@c.us"}, max_retries=max_retries
            ),
        )
        exists = data.get("existsWhatsapp")
        if not isinstance(exists, bool):
            raise GreenAPIError("checkWhatsapp", "the answer has no existsWhatsapp flag")
        lid = chat_id_to_lid(data.get("chatId")) if exists else None
        return WhatsAppCheck(exists=exists, lid=lid, raw=dict(data))

    def receive_notification(self, receive_timeout: int = 5) -> Notification | None:
        """The head of the notification queue, or ``None`` when it stays empty for
        ``receive_timeout`` seconds (5-60). It stays at the head until deleted."""
        receive_timeout = min(60, max(5, int(receive_timeout)))
        data = self._call(
            "GET",
            "receiveNotification",
            params={"receiveTimeout": receive_timeout},
            timeout=receive_timeout + self.timeout,
        )
        if data is None or data == "":
            return None
        data = self._object("receiveNotification", data)
        receipt_id = data.get("receiptId")
        if isinstance(receipt_id, bool) or not isinstance(receipt_id, int):
            raise GreenAPIError("receiveNotification", "the answer has no integer receiptId")
        return Notification(receipt_id, data.get("body"))

    def delete_notification(self, receipt_id: int) -> bool:
        """Remove a handled notification; ``False`` when it was already gone."""
        data = self._object(
            "deleteNotification",
            self._call("DELETE", "deleteNotification", suffix=f"/{int(receipt_id)}"),
        )
        return data.get("result") is True

    # --- plumbing -----------------------------------------------------------------------

    def _url(self, method: str, suffix: str = "") -> str:
        return f"{self.api_url}/waInstance{self.id_instance}/{method}/{self._token}{suffix}"

    @staticmethod
    def _object(method: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise GreenAPIError(method, f"unexpected answer of type {type(data).__name__}")
        return data

    def _throttle(self, method: str) -> None:
        rps = RATE_LIMITS.get(method)
        if not rps:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._last_call.get(method, float("-inf")) + 1.0 / rps - now
            self._last_call[method] = now + max(0.0, wait)
        if wait > 0:
            _sleep(wait)
            # Count from when this call really leaves (a loaded machine oversleeps), so the
            # next call keeps its distance from this one, not from the slot it was given.
            with self._lock:
                self._last_call[method] = max(self._last_call[method], time.monotonic())

    def _call(
        self,
        http_method: str,
        method: str,
        *,
        suffix: str = "",
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Any:
        retries = self.max_retries if max_retries is None else max_retries
        idempotent = method not in NOT_IDEMPOTENT
        attempt = 0
        while True:
            self._throttle(method)
            delay: float | None = None
            try:
                response = self.session.request(
                    http_method,
                    self._url(method, suffix),
                    params=params,
                    json=json,
                    timeout=timeout or self.timeout,
                )
            except requests.ConnectionError as err:
                # ConnectTimeout is a ConnectionError too: the request never arrived.
                error = GreenAPIError(
                    method, f"cannot connect to {self.api_url}", detail=type(err).__name__
                )
                # Only a failed connect proves the request never arrived.
                if not idempotent and not isinstance(err, requests.ConnectTimeout):
                    raise error from None
            except requests.Timeout as err:
                error = GreenAPIError(
                    method,
                    f"no answer within {timeout or self.timeout:g} s",
                    detail=type(err).__name__,
                )
                if not idempotent:
                    raise error from None
            except requests.RequestException as err:
                raise GreenAPIError(method, type(err).__name__, detail=str(err)) from None
            else:
                status = response.status_code
                if status == 200:
                    return self._decode(method, response)
                error = self._http_error(method, response)
                if status == 429:
                    delay = retry_after(response, at_most=MAX_RETRY_AFTER)
                elif not (status >= 500 and idempotent):
                    raise error
            if attempt >= retries:
                raise error
            wait = delay if delay is not None else self.backoff * (2**attempt)
            logger.warning("%s; retrying in %.1f s", error, wait)
            _sleep(wait)
            attempt += 1

    @staticmethod
    def _decode(method: str, response: requests.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise GreenAPIError(
                method, "the answer is not JSON", status=response.status_code
            ) from None

    def _http_error(self, method: str, response: requests.Response) -> GreenAPIError:
        status = response.status_code
        text = response.text[:300].strip()
        if status == 466:
            error: GreenAPIError = QuotaExceeded(
                method,
                "the plan's quota is exhausted (the Developer plan allows only 3 chats a month)",
                status=status,
                detail=text,
            )
            _record_quota(method, error)
            return error
        if status == 429:
            return RateLimited(method, "too many requests", status=status, detail=text)
        if status in (401, 403):
            return AuthorizationFailed(
                method,
                "the instance id or API token is wrong (WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE, "
                "WHATSAPP_LOGIN_GREEN_API_TOKEN)",
                status=status,
                detail=text,
            )
        if status >= 500:
            return GreenAPIError(method, "Green API server error", status=status, detail=text)
        return GreenAPIError(method, "unexpected answer", status=status, detail=text)


def _record_quota(method: str, error: GreenAPIError) -> None:
    """Remember a 466 for a week so the doctor can report it (the cache may be absent)."""
    try:
        from django.core.cache import cache

        cache.set(
            QUOTA_CACHE_KEY,
            {"method": method, "at": time.time(), "detail": error.detail},
            timeout=7 * 86400,
        )
    except Exception:  # best effort; never hide the real error
        logger.debug("Could not record the Green API quota state in the cache")
