"""Send django-allauth's phone codes as WhatsApp messages.

::

    from allauth.account.adapter import DefaultAccountAdapter
    from django_whatsapp_login.contrib.allauth.adapter import WhatsAppAdapterMixin

    class AccountAdapter(WhatsAppAdapterMixin, DefaultAccountAdapter):
        ...  # set_phone, get_phone, set_phone_verified, get_user_by_phone: your storage

The mixin comes first, so its methods win over ``DefaultAccountAdapter``'s (system check
``whatsapp_login.E044``). allauth calls ``send_verification_code_sms`` for phone verification
(signup, phone change), login by code and reauthentication by code, and the two
enumeration-safe notices for numbers without / with an account. The message goes through the
configured gateway (``WHATSAPP_LOGIN_GATEWAY``: Green API's ``WHATSAPP_LOGIN_GREEN_API_*``
instance, the Cloud API's number, or your own) with :meth:`Gateway.send_code`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# isort: off
from . import _require  # noqa: F401  (first: a clear error when allauth is missing)

# isort: on
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from ...conf import app_settings
from ...exceptions import InvalidPhoneNumber, WhatsAppLoginImproperlyConfigured
from ...gateways import GatewayError, get_gateway
from ...gateways.greenapi.client import GreenAPIError
from ...phone import mask_phone, phone_digits
from .conf import allauth_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger("django_whatsapp_login")


def _is_headless(request: HttpRequest | None) -> bool:
    # allauth marks its headless API requests with request.allauth.headless.
    headless = getattr(getattr(request, "allauth", None), "headless", None)
    return bool(getattr(headless, "client", None))


class WhatsAppSendFailed(ImmediateHttpResponse):  # type: ignore[misc]  # allauth is untyped
    """The code could not be sent. allauth's middleware shows the response (503): a page
    for browsers, allauth's JSON error shape for its headless API. Nothing secret is in it."""

    def __init__(self, request: HttpRequest | None) -> None:
        message = _(
            "We could not send the code by WhatsApp right now. Please try again in a few minutes."
        )
        response: HttpResponse
        if _is_headless(request):
            response = JsonResponse(
                {
                    "status": 503,
                    "errors": [{"message": message, "code": "whatsapp_send_failed"}],
                },
                status=503,
            )
        else:
            response = HttpResponse(
                render_to_string(
                    "whatsapp_login/allauth/send_failed.html", {"message": message}, request
                ),
                status=503,
            )
        response["Retry-After"] = "60"
        response["Cache-Control"] = "no-store"
        super().__init__(response)
        self.message = message

    def __str__(self) -> str:
        return self.message


class WhatsAppAdapterMixin:
    """Account-adapter methods that send allauth's codes and notices by WhatsApp."""

    request: HttpRequest | None

    def send_verification_code_sms(
        self, user: AbstractBaseUser, phone: str, code: str, **kwargs: Any
    ) -> None:
        site = self.whatsapp_site_name()
        if kwargs.get("reauthentication"):
            text = _(
                "%(code)s is your code to confirm it is you at %(site)s. "
                "Do not share it with anyone."
            )
        else:
            text = _(
                "%(code)s is your verification code for %(site)s. Do not share it with anyone."
            )
        self.send_whatsapp_message(phone, text % {"code": code, "site": site})

    def send_unknown_account_sms(self, phone: str, **kwargs: Any) -> None:
        text = _(
            "Someone asked for a code for this number at %(site)s, but no account uses it. "
            "If it was not you, ignore this message."
        )
        self.send_whatsapp_message(phone, text % {"site": self.whatsapp_site_name()})

    def send_account_already_exists_sms(self, phone: str) -> None:
        text = _(
            "Someone tried to sign up at %(site)s with this number, but it already has an "
            "account. Log in instead; if it was not you, ignore this message."
        )
        self.send_whatsapp_message(phone, text % {"site": self.whatsapp_site_name()})

    # --- hooks you may override -----------------------------------------------------------

    def whatsapp_site_name(self) -> str:
        """``WHATSAPP_LOGIN_SITE_NAME``, else the current site's name (or host)."""
        if app_settings.SITE_NAME:
            return app_settings.SITE_NAME
        request = self._whatsapp_request()
        if request is None:
            return ""
        return str(get_current_site(request).name)

    def send_whatsapp_message(self, phone: str, text: str) -> None:
        """Send ``text`` to the WhatsApp account of E.164 ``phone``, or raise
        :class:`WhatsAppSendFailed` (logged without the token, the phone masked)."""
        request = self._whatsapp_request()
        try:
            gateway = get_gateway()
            phone_digits(phone)
            chat_id = gateway.chat_for_phone(phone)
        except InvalidPhoneNumber:
            logger.warning("Cannot send an allauth code by WhatsApp to %s", mask_phone(phone))
            raise WhatsAppSendFailed(request) from None
        except WhatsAppLoginImproperlyConfigured as err:  # WHATSAPP_LOGIN_GATEWAY (E033)
            logger.error("Cannot send an allauth code by WhatsApp: %s", err)
            raise WhatsAppSendFailed(request) from err
        try:
            gateway.send_code(chat_id, text, timeout=allauth_settings.SEND_TIMEOUT)
        except (GatewayError, GreenAPIError, WhatsAppLoginImproperlyConfigured) as err:
            # The gateways' error texts are redacted; configuration errors name settings only.
            logger.error(
                "Sending an allauth code by WhatsApp to %s failed: %s", mask_phone(phone), err
            )
            raise WhatsAppSendFailed(request) from err

    def _whatsapp_request(self) -> HttpRequest | None:
        return getattr(self, "request", None) or getattr(allauth_context, "request", None)
