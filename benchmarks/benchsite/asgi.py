"""The site under ASGI: ``application`` answers the events URL with the lean wrapper
(``django_whatsapp_login.asgi.live_events``); ``django_application`` is Django's handler
alone (the events view), the baseline of the ``held`` figure."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
django_application = get_asgi_application()

from django_whatsapp_login.asgi import live_events  # noqa: E402  (after the setup)

application = live_events(django_application)
