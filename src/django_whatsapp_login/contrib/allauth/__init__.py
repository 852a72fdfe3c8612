"""django-allauth integration (``pip install "django-whatsapp-login[allauth]"``).

Add ``"django_whatsapp_login.contrib.allauth"`` to ``INSTALLED_APPS`` (its system checks and
templates), then use what you need (docs/allauth.md):

- ``WHATSAPP_LOGIN_COMPLETE_LOGIN = "django_whatsapp_login.contrib.allauth.login.complete_login"``:
  WhatsApp logins go through allauth's ``perform_login`` (MFA, e-mail verification, signals,
  messages, redirects);
- :class:`~django_whatsapp_login.contrib.allauth.adapter.WhatsAppAdapterMixin` in your
  ``ACCOUNT_ADAPTER``: allauth's phone codes are sent as WhatsApp messages;
- ``WHATSAPP_LOGIN_USER_RESOLVER =
  "django_whatsapp_login.contrib.allauth.resolvers.allauth_phone_resolver"``: the phone
  allauth stores (``adapter.get_user_by_phone``) finds the user of a login message.

This module does not import allauth, so the checks can say when it is missing or too old.
"""

from __future__ import annotations

#: The oldest django-allauth this integration works with: phone numbers came in 65.5.0,
#: ``send_account_already_exists_sms`` in 65.8.0.
MIN_ALLAUTH_VERSION = (65, 8, 0)
MIN_ALLAUTH_VERSION_STR = ".".join(map(str, MIN_ALLAUTH_VERSION))
