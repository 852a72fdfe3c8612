"""Typed access to the WHATSAPP_LOGIN_* settings.

Every property reads ``django.conf.settings`` when it is accessed, so
``override_settings`` works and nothing is frozen at import time.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings

from .exceptions import WhatsAppLoginImproperlyConfigured

DEFAULT_RESOLVER = "django_whatsapp_login.resolvers.default_resolver"
MIN_ATTEMPT_TTL = 10
DEFAULT_COMPLETE_LOGIN = "django_whatsapp_login.completion.django_login"
MAX_ATTEMPT_TTL = 600
MIN_TTL = timedelta(seconds=MIN_ATTEMPT_TTL)
MAX_TTL = timedelta(seconds=MAX_ATTEMPT_TTL)
#: The values of WHATSAPP_LOGIN_CONFIRM.
CONFIRM_MODES = ("never", "new_device", "always")

logger = logging.getLogger("django_whatsapp_login")
#: TTL values already warned about, so a bad setting is logged once per process, not per login.
_warned_ttls: set[timedelta] = set()


def _get(name: str, default: Any = None) -> Any:
    return getattr(settings, "WHATSAPP_LOGIN_" + name, default)


def _duration(name: str, value: Any) -> timedelta:
    """Seconds or a timedelta, as every duration setting accepts."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_{name} must be a number of seconds or a timedelta."
        )
    return timedelta(seconds=value)


def attempt_ttl(ttl: timedelta) -> timedelta:
    """``ttl`` clamped to 10..600 seconds, with a warning (logged once per value).

    A login code is a single factor: it never lives longer than 10 minutes, even on a site
    that ignores the system check whatsapp_login.E006. Below 10 seconds nobody could send
    the message in time.
    """
    clamped = min(max(ttl, MIN_TTL), MAX_TTL)
    if clamped != ttl and ttl not in _warned_ttls:
        _warned_ttls.add(ttl)
        logger.warning(
            "WHATSAPP_LOGIN_ATTEMPT_TTL is %g seconds, outside %d..%d: using %g seconds "
            "(system check whatsapp_login.E006).",
            ttl.total_seconds(),
            MIN_ATTEMPT_TTL,
            MAX_ATTEMPT_TTL,
            clamped.total_seconds(),
        )
    return clamped


#: The built-in gateways by their ``WHATSAPP_LOGIN_GATEWAY`` name.
GATEWAYS = {
    "greenapi": "django_whatsapp_login.gateways.greenapi.gateway.GreenAPIGateway",
    "cloudapi": "django_whatsapp_login.gateways.cloudapi.gateway.CloudAPIGateway",
}


class AppSettings:
    @property
    def GATEWAY(self) -> str:
        """``"greenapi"`` (the default), ``"cloudapi"`` or the dotted path of a
        :class:`~django_whatsapp_login.gateways.Gateway` subclass."""
        value = _get("GATEWAY", None)
        return "greenapi" if value is None or value == "" else str(value).strip()

    @property
    def GATEWAY_PATH(self) -> str:
        """The dotted path of the configured gateway's class."""
        return GATEWAYS.get(self.GATEWAY, self.GATEWAY)

    @property
    def CAN_SEND(self) -> bool:
        """The configured gateway's sending settings are set: the Green API instance id and
        token, or the Cloud API access token and phone number id. A custom gateway is
        trusted to know its own."""
        if self.GATEWAY == "greenapi":
            return bool(self.GREEN_API_TOKEN and self.GREEN_API_ID_INSTANCE)
        if self.GATEWAY == "cloudapi":
            return bool(self.CLOUD_API_ACCESS_TOKEN and self.CLOUD_API_PHONE_NUMBER_ID)
        return True

    @property
    def BUSINESS_PHONE(self) -> str:
        return str(_get("BUSINESS_PHONE", "") or "")

    @property
    def WEBHOOK_TOKENS(self) -> list[str]:
        """The accepted webhook tokens (current first); empty means none configured."""
        value = _get("WEBHOOK_TOKEN", None)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [item for item in value if isinstance(item, str) and item]
        raise WhatsAppLoginImproperlyConfigured(
            "WHATSAPP_LOGIN_WEBHOOK_TOKEN must be a string or a list of strings."
        )

    @property
    def GREEN_API_ID_INSTANCE(self) -> str:
        value = _get("GREEN_API_ID_INSTANCE", None)
        return "" if value is None else str(value).strip()

    @property
    def GREEN_API_TOKEN(self) -> str:
        return str(_get("GREEN_API_TOKEN", "") or "")

    @property
    def GREEN_API_URL(self) -> str:
        return str(_get("GREEN_API_URL", "") or "https://api.green-api.com").rstrip("/")

    @property
    def MESSAGE_PREFIX(self) -> str:
        return str(_get("MESSAGE_PREFIX", "LOGIN"))

    @property
    def ATTEMPT_TTL(self) -> timedelta:
        """The lifetime of a new attempt, held to 10..600 seconds (see ``attempt_ttl``)."""
        return attempt_ttl(self.CONFIGURED_ATTEMPT_TTL)

    @property
    def CONFIGURED_ATTEMPT_TTL(self) -> timedelta:
        """``WHATSAPP_LOGIN_ATTEMPT_TTL`` as written (the system check E006 judges it)."""
        return _duration("ATTEMPT_TTL", _get("ATTEMPT_TTL", 180))

    @property
    def USER_RESOLVER(self) -> str:
        return str(_get("USER_RESOLVER", None) or DEFAULT_RESOLVER)

    @property
    def PHONE_FIELD(self) -> str:
        return str(_get("PHONE_FIELD", "phone"))

    @property
    def SANDBOX(self) -> bool:
        return bool(_get("SANDBOX", False))

    @property
    def REDIRECT_URL(self) -> str:
        return str(_get("REDIRECT_URL", None) or settings.LOGIN_REDIRECT_URL)

    @property
    def COMPLETE_LOGIN(self) -> str:
        """Dotted path of the step that logs the user in (see completion.py)."""
        return str(_get("COMPLETE_LOGIN", None) or DEFAULT_COMPLETE_LOGIN)

    # --- rate limits (allauth-style strings, see ratelimit.py; "" disables one) ---------

    @property
    def RATE_LIMIT_START(self) -> str:
        """Attempt creation (login page and ``start``), per client IP and per session."""
        return str(_get("RATE_LIMIT_START", "20/m/ip,5/m/session") or "")

    @property
    def RATE_LIMIT_STATUS(self) -> str:
        """Status polls, per attempt and per session."""
        return str(_get("RATE_LIMIT_STATUS", "2/s/attempt,120/m/session") or "")

    @property
    def RATE_LIMIT_COMPLETE(self) -> str:
        """Completions (``complete``), per attempt, per session and per client IP."""
        return str(_get("RATE_LIMIT_COMPLETE", "10/m/attempt,30/m/session,60/m/ip") or "")

    @property
    def RATE_LIMIT_CONFIRM(self) -> str:
        """Valid login messages per sender phone."""
        return str(_get("RATE_LIMIT_CONFIRM", "3/m/phone,10/h/phone") or "")

    @property
    def RATE_LIMIT_FAILED(self) -> str:
        """Failed login messages (unknown, expired, refused) per sender phone."""
        return str(_get("RATE_LIMIT_FAILED", "5/5m/phone") or "")

    @property
    def RATE_LIMIT_LID_FALLBACK(self) -> str:
        """Phone-number tries of the login page's LID fallback, per attempt, session and IP
        (each try is one Green API ``checkWhatsapp`` call)."""
        return str(_get("RATE_LIMIT_LID_FALLBACK", "3/10m/attempt,5/10m/session,20/h/ip") or "")

    @property
    def RATE_LIMIT_WEBHOOK_UNAUTHORIZED(self) -> str:
        """Webhook requests with a missing or wrong token, per client IP."""
        return str(_get("RATE_LIMIT_WEBHOOK_UNAUTHORIZED", "10/m/ip") or "")

    @property
    def TRUSTED_PROXY_COUNT(self) -> int:
        """How many reverse proxies in front of Django append to X-Forwarded-For."""
        return int(_get("TRUSTED_PROXY_COUNT", 0) or 0)

    # --- live status: the cached public state and the push channel (state.py, live.py) ---

    @property
    def STATE_CACHE(self) -> bool | None:
        """Serve the status poll from the default cache: ``None`` (default) when that cache
        is shared (not LocMem or Dummy), ``True`` always, ``False`` never (read the row)."""
        value = _get("STATE_CACHE", None)
        return None if value is None else bool(value)

    @property
    def LIVE(self) -> str:
        """The push channel's notifier: ``""`` (off, the default: the page polls),
        ``"inprocess"`` (one worker process), ``"redis"`` or ``"postgres"`` (see live.py)."""
        return str(_get("LIVE", "") or "").strip().lower()

    @property
    def LIVE_REDIS_URL(self) -> str:
        """Redis for ``LIVE = "redis"``; empty means the default cache's first server."""
        return str(_get("LIVE_REDIS_URL", "") or "")

    @property
    def LIVE_CHANNEL(self) -> str:
        """The Redis pub/sub channel or PostgreSQL ``LISTEN`` channel name."""
        return str(_get("LIVE_CHANNEL", "") or "whatsapp_login")

    @property
    def LIVE_MAX_CONNECTIONS(self) -> int:
        """Open event streams one worker process holds at most; more get 503."""
        return int(_get("LIVE_MAX_CONNECTIONS", 5000))

    @property
    def LIVE_MAX_PER_SESSION(self) -> int:
        """Open event streams of one session in one worker process (tabs); more get 429."""
        return int(_get("LIVE_MAX_PER_SESSION", 3))

    @property
    def LIVE_TIMEOUT(self) -> timedelta:
        """How long one event stream stays open before the page opens a new one."""
        return _duration("LIVE_TIMEOUT", _get("LIVE_TIMEOUT", 120))

    @property
    def LIVE_HEARTBEAT(self) -> timedelta:
        """Time between two keep-alive comments of an idle stream; each one also re-reads
        the attempt's state, so a lost notification costs at most this long."""
        return _duration("LIVE_HEARTBEAT", _get("LIVE_HEARTBEAT", 15))

    @property
    def RATE_LIMIT_EVENTS(self) -> str:
        """Event streams opened, per session and per client IP (reconnect loops)."""
        return str(_get("RATE_LIMIT_EVENTS", "12/m/session,600/m/ip") or "")

    # --- retention (whatsapp_login_cleanup) -----------------------------------------

    @property
    def ATTEMPT_RETENTION(self) -> timedelta:
        return _duration("ATTEMPT_RETENTION", _get("ATTEMPT_RETENTION", timedelta(hours=24)))

    @property
    def PROCESSED_MESSAGE_RETENTION(self) -> timedelta:
        return _duration(
            "PROCESSED_MESSAGE_RETENTION",
            _get("PROCESSED_MESSAGE_RETENTION", timedelta(hours=48)),
        )

    @property
    def DEFAULT_REGION(self) -> str:
        """ISO country code for reading national phone formats (needs ``phonenumbers``)."""
        return str(_get("DEFAULT_REGION", "") or "").upper()

    @property
    def POLL_INTERVAL(self) -> int:
        """Milliseconds between two status requests of the login page."""
        return int(_get("POLL_INTERVAL", 600))

    # --- Green API HTTP client and WhatsApp replies (issue 4) ------------------------

    @property
    def GREEN_API_TIMEOUT(self) -> float:
        """Seconds to wait for one Green API HTTP call (management commands, polling)."""
        return float(_get("GREEN_API_TIMEOUT", 10))

    @property
    def REPLIES(self) -> bool:
        """Answer login messages in WhatsApp (opt-in; needs the Green API id and token)."""
        return bool(_get("REPLIES", False))

    @property
    def LOGIN_NOTICE(self) -> bool:
        """Send a notice after each login ("Not you? Reply NO"). On by default; it is sent
        only when the gateway can send (:attr:`NOTICES_ENABLED`)."""
        return bool(_get("LOGIN_NOTICE", True))

    @property
    def NOTICES_ENABLED(self) -> bool:
        """Login notices are on and can be sent (:attr:`CAN_SEND`)."""
        return self.LOGIN_NOTICE and self.CAN_SEND

    @property
    def CONFIRM(self) -> str:
        """When a login must be confirmed with YES in WhatsApp: ``"never"``,
        ``"new_device"`` (the default: a browser this user has not confirmed before) or
        ``"always"``. Asked only when a question can be sent (:attr:`CONFIRMATION_ENABLED`).
        An unknown value counts as ``"always"`` (and is system check E014)."""
        value = str(_get("CONFIRM", "new_device") or "").strip().lower()
        return value if value in CONFIRM_MODES else "always"

    @property
    def CONFIRMATION_ENABLED(self) -> bool:
        """A YES/NO question can be asked: the gateway can send (:attr:`CAN_SEND`), or the
        development sandbox (which shows the question on the page) is on."""
        return self.CONFIRM != "never" and (self.CAN_SEND or (self.SANDBOX and settings.DEBUG))

    @property
    def KNOWN_DEVICE_TTL(self) -> timedelta:
        """How long a browser confirmed with YES stays known (each login from it renews it)."""
        return _duration("KNOWN_DEVICE_TTL", _get("KNOWN_DEVICE_TTL", timedelta(days=180)))

    @property
    def COUNTRY_HEADER(self) -> str:
        """A ``request.META`` key holding the client's country set by your CDN or proxy
        (``"HTTP_CF_IPCOUNTRY"``); empty (the default) trusts no header."""
        return str(_get("COUNTRY_HEADER", "") or "")

    @property
    def REPLIES_PER_HOUR(self) -> int:
        """At most this many replies to one phone number per hour (SR-24)."""
        return int(_get("REPLIES_PER_HOUR", 3))

    @property
    def REPLY_TIMEOUT(self) -> float:
        """Seconds one reply may take; a reply is never retried."""
        return float(_get("REPLY_TIMEOUT", 5))

    @property
    def REPLY_LANGUAGE(self) -> str:
        """Language of the replies; empty means ``LANGUAGE_CODE``."""
        return str(_get("REPLY_LANGUAGE", "") or settings.LANGUAGE_CODE)

    @property
    def SIGN_OUT_WINDOW(self) -> timedelta:
        """How long after a login a "NO" reply from the same number still signs it out."""
        return _duration("SIGN_OUT_WINDOW", _get("SIGN_OUT_WINDOW", timedelta(hours=24)))

    @property
    def SITE_NAME(self) -> str:
        """The site's name in replies; empty means the Sites framework's name or the host."""
        return str(_get("SITE_NAME", "") or "")

    # --- Meta WhatsApp Cloud API gateway (issue 12) -------------------------------------
    # Read by gateways/cloudapi/ only. Secrets that rotate accept a list, current first.

    @staticmethod
    def _string_list(name: str, value: Any) -> list[str]:
        """A setting that is a string or a list of strings, as a list without empty items."""
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [item for item in value if isinstance(item, str) and item]
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_{name} must be a string or a list of strings."
        )

    @property
    def CLOUD_API_ACCESS_TOKEN(self) -> str:
        """The access token for the Graph API (a system user's permanent token)."""
        return str(_get("CLOUD_API_ACCESS_TOKEN", "") or "").strip()

    @property
    def CLOUD_API_PHONE_NUMBER_ID(self) -> str:
        """The id of the business phone number (not the number itself)."""
        value = _get("CLOUD_API_PHONE_NUMBER_ID", None)
        return "" if value is None else str(value).strip()

    @property
    def CLOUD_API_APP_SECRETS(self) -> list[str]:
        """``WHATSAPP_LOGIN_CLOUD_API_APP_SECRET``: the app secret(s) that sign deliveries."""
        return self._string_list("CLOUD_API_APP_SECRET", _get("CLOUD_API_APP_SECRET", None))

    @property
    def CLOUD_API_VERIFY_TOKENS(self) -> list[str]:
        """``WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN``: the token(s) of the GET handshake."""
        return self._string_list("CLOUD_API_VERIFY_TOKEN", _get("CLOUD_API_VERIFY_TOKEN", None))

    @property
    def CLOUD_API_APP_ID(self) -> str:
        """The Meta app's id (for the doctor's look at the app's webhook subscription)."""
        value = _get("CLOUD_API_APP_ID", None)
        return "" if value is None else str(value).strip()

    @property
    def CLOUD_API_API_VERSION(self) -> str:
        """The Graph API version in every URL, ``"v26.0"`` (``"26.0"`` is read the same)."""
        value = str(_get("CLOUD_API_API_VERSION", "") or "v26.0").strip()
        return value if value.startswith("v") else "v" + value

    @property
    def CLOUD_API_URL(self) -> str:
        return str(_get("CLOUD_API_URL", "") or "https://graph.facebook.com").rstrip("/")

    @property
    def CLOUD_API_TIMEOUT(self) -> float:
        """Seconds to wait for one Graph API HTTP request."""
        return float(_get("CLOUD_API_TIMEOUT", 10))


app_settings = AppSettings()
